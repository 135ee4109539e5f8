"""The Anthropic Messages wire format, as api.anthropic.com sends it.

A stream is `message_start` (input usage), a `ping`, then per content block
`content_block_start` / `content_block_delta` (`text_delta` or `input_json_delta`, the latter
opening with an empty `partial_json`) / `content_block_stop`, then `message_delta` with the stop
reason and output usage, then `message_stop`. Every event has an `event:` name: the SDK skips
nameless ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.doubles._recording import Api
from tests.doubles._script import HttpError
from tests.doubles._wire import SseEvent, Turn, dumps, random_id, split

__all__ = ["AnthropicDialect"]

# https://docs.anthropic.com/en/api/errors
_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out."),
    529: ("overloaded_error", "Overloaded"),
}


class AnthropicDialect:
    """`POST /v1/messages` and `GET /v1/models` as Anthropic answers them."""

    api = Api.ANTHROPIC
    request_id_header = "request-id"

    def request_id(self) -> str:
        return random_id("req_011C", 20)

    def check_request(self, body: Any, headers: Mapping[str, str]) -> HttpError | None:
        if "anthropic-version" not in headers:
            return HttpError(status=400, message="anthropic-version: header is required")
        if not isinstance(body, dict):
            return HttpError(status=400, message="Request body is not valid JSON.")
        for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
            if not isinstance(body.get(name), kind):
                return HttpError(status=400, message=f"{name}: Field required")
        return None

    def sent_key(self, headers: Mapping[str, str]) -> str | None:
        if (key := headers.get("x-api-key")) is not None:
            return key
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else None

    def unauthorized(self) -> HttpError:
        return HttpError(status=401)

    def _error(self, error: HttpError) -> dict[str, Any]:
        default_type, default_message = _DEFAULTS.get(
            error.status, ("api_error", "Internal server error")
        )
        return {
            "type": error.error_type or default_type,
            "message": error.message or default_message,
        }

    def error_body(self, error: HttpError, request_id: str) -> dict[str, Any]:
        return {"type": "error", "error": self._error(error), "request_id": request_id}

    def stream_error_event(self, error: HttpError, request_id: str) -> SseEvent:
        body = {"type": "error", "error": self._error(error), "request_id": request_id}
        return SseEvent(event="error", data=dumps(body))

    def response_body(self, turn: Turn) -> dict[str, Any]:
        reply = turn.reply
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        content += [
            {
                "type": "tool_use",
                "id": call.id or random_id("toolu_01", 22),
                "name": call.name,
                "input": dict(call.arguments),
            }
            for call in reply.tool_calls
        ]
        return {
            **self._message(turn, content, output_tokens=turn.output_tokens),
            "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        }

    def stream_events(self, turn: Turn) -> list[SseEvent]:
        reply = turn.reply

        def event(name: str, body: dict[str, Any], *, paced: bool = False) -> SseEvent:
            return SseEvent(event=name, data=dumps({"type": name, **body}), paced=paced)

        def delta(index: int, kind: str, key: str, value: str) -> SseEvent:
            body = {"index": index, "delta": {"type": kind, key: value}}
            return event("content_block_delta", body, paced=True)

        events = [
            event("message_start", {"message": self._message(turn, [], output_tokens=1)}),
            event("ping", {}),
        ]
        blocks: list[tuple[dict[str, Any], list[SseEvent]]] = []
        if reply.text:
            pieces = split(reply.text, reply.chunk_chars)
            deltas = [delta(0, "text_delta", "text", piece) for piece in pieces]
            blocks.append(({"type": "text", "text": ""}, deltas))
        for call in reply.tool_calls:
            index = len(blocks)
            opening = {
                "type": "tool_use",
                "id": call.id or random_id("toolu_01", 22),
                "name": call.name,
                "input": {},
            }
            pieces = ["", *split(dumps(call.arguments), reply.chunk_chars)]
            deltas = [delta(index, "input_json_delta", "partial_json", piece) for piece in pieces]
            blocks.append((opening, deltas))
        for index, (opening, deltas) in enumerate(blocks):
            events.append(event("content_block_start", {"index": index, "content_block": opening}))
            events += deltas
            events.append(event("content_block_stop", {"index": index}))
        stop_reason = "tool_use" if reply.tool_calls else "end_turn"
        events.append(
            event(
                "message_delta",
                {
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": turn.output_tokens},
                },
            )
        )
        events.append(event("message_stop", {}))
        return events

    def models_body(self, models: list[str]) -> dict[str, Any]:
        data = [
            {
                "type": "model",
                "id": name,
                "display_name": name,
                "created_at": "2025-10-01T00:00:00Z",
            }
            for name in models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None,
        }

    @staticmethod
    def _message(
        turn: Turn, content: list[dict[str, Any]], *, output_tokens: int
    ) -> dict[str, Any]:
        return {
            "id": random_id("msg_01", 22),
            "type": "message",
            "role": "assistant",
            "model": turn.model,
            "content": content,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": turn.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": output_tokens,
                "service_tier": "standard",
            },
        }
