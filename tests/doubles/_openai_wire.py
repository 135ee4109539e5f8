"""The OpenAI Chat Completions wire format, as api.openai.com sends it.

Shapes follow real captures: every chunk repeats id/created/model/system_fingerprint; the first
delta carries the role; tool calls open with index/id/type/name and empty arguments, then the
arguments follow in pieces under the same index; with `stream_options.include_usage` every chunk
has `"usage": null` and one last chunk has empty `choices` and the usage; then `data: [DONE]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.doubles._recording import Api
from tests.doubles._script import HttpError
from tests.doubles._wire import SseEvent, Turn, dumps, random_id, split

__all__ = ["OpenAIDialect"]

_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    403: ("invalid_request_error", None, "You are not allowed to sample from this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached on requests per min (RPM): Limit 500, Used 500, Requested 1.",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_SERVER_ERROR = (
    "server_error",
    None,
    "The server had an error while processing your request. Sorry about that!",
)


class OpenAIDialect:
    """`POST /v1/chat/completions` and `GET /v1/models` as OpenAI answers them."""

    api = Api.OPENAI
    request_id_header = "x-request-id"

    def __init__(self) -> None:
        self._fingerprint = random_id("fp_", 10).lower()

    def request_id(self) -> str:
        return random_id("req_", 32).lower()

    def check_request(self, body: Any, headers: Mapping[str, str]) -> HttpError | None:
        if not isinstance(body, dict):
            return HttpError(
                status=400, message="We could not parse the JSON body of your request."
            )
        if not isinstance(body.get("model"), str):
            return HttpError(status=400, message="you must provide a model parameter")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return HttpError(status=400, message="'messages' is a required property")
        return None

    def sent_key(self, headers: Mapping[str, str]) -> str | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else None

    def unauthorized(self) -> HttpError:
        return HttpError(status=401)

    def error_body(self, error: HttpError, request_id: str) -> dict[str, Any]:
        default_type, default_code, default_message = _DEFAULTS.get(
            error.status,
            _SERVER_ERROR if error.status >= 500 else ("invalid_request_error", None, "Error."),
        )
        return {
            "error": {
                "message": error.message or default_message,
                "type": error.error_type or default_type,
                "param": None,
                "code": error.code or default_code,
            }
        }

    def stream_error_event(self, error: HttpError, request_id: str) -> SseEvent:
        return SseEvent(data=dumps(self.error_body(error, request_id)))

    def response_body(self, turn: Turn) -> dict[str, Any]:
        reply = turn.reply
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text or None,
            "refusal": None,
            "annotations": [],
        }
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or random_id("call_", 24),
                    "type": "function",
                    "function": {"name": call.name, "arguments": dumps(call.arguments)},
                }
                for call in reply.tool_calls
            ]
        return {
            **self._envelope(turn, random_id("chatcmpl-", 29), "chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                }
            ],
            "usage": self._usage(turn),
        }

    def stream_events(self, turn: Turn) -> list[SseEvent]:
        reply = turn.reply
        options = turn.body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        envelope = self._envelope(turn, random_id("chatcmpl-", 29), "chat.completion.chunk")

        def chunk(
            delta: dict[str, Any], finish_reason: str | None = None, *, paced: bool
        ) -> SseEvent:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            body: dict[str, Any] = {**envelope, "choices": [choice]}
            if include_usage:
                body["usage"] = None
            return SseEvent(data=dumps(body), paced=paced)

        role: dict[str, Any] = {"role": "assistant", "content": "" if reply.text else None}
        events = [chunk({**role, "refusal": None}, paced=False)]
        events += [
            chunk({"content": piece}, paced=True) for piece in split(reply.text, reply.chunk_chars)
        ]
        for index, call in enumerate(reply.tool_calls):
            opening = {
                "index": index,
                "id": call.id or random_id("call_", 24),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            events.append(chunk({"tool_calls": [opening]}, paced=True))
            events += [
                chunk(
                    {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, paced=True
                )
                for piece in split(dumps(call.arguments), reply.chunk_chars)
            ]
        events.append(chunk({}, "tool_calls" if reply.tool_calls else "stop", paced=False))
        if include_usage:
            last = {**envelope, "choices": [], "usage": self._usage(turn)}
            events.append(SseEvent(data=dumps(last)))
        events.append(SseEvent(data="[DONE]"))
        return events

    def models_body(self, models: list[str]) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 1715367049, "owned_by": "system"}
                for name in models
            ],
        }

    def _envelope(self, turn: Turn, completion_id: str, kind: str) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": kind,
            "created": turn.created,
            "model": turn.model,
            "service_tier": "default",
            "system_fingerprint": self._fingerprint,
        }

    @staticmethod
    def _usage(turn: Turn) -> dict[str, Any]:
        prompt, completion = turn.input_tokens, turn.output_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
