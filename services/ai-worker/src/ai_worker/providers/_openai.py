from __future__ import annotations

from typing import Any

import httpx
from temporalio import activity

from agent_contract import StepRequest, StepResult
from ai_worker.providers._base import ProviderError

_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class OpenAIProvider:
    """Any OpenAI-compatible chat-completions endpoint; one completion is one step."""

    def __init__(self, *, http: httpx.AsyncClient, api_key: str = "") -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def step(self, request: StepRequest, *, model: str) -> StepResult:
        spec = request.spec
        messages: list[dict[str, str]] = []
        if spec.instructions:
            messages.append({"role": "system", "content": spec.instructions})
        messages.append({"role": "user", "content": spec.input})
        messages += [{"role": "assistant", "content": text} for text in request.previous]
        body: dict[str, Any] = {"model": model, "messages": messages}
        if temperature := spec.parameters.get("temperature"):
            try:
                body["temperature"] = float(temperature)
            except ValueError:
                raise ProviderError(
                    f"parameters.temperature must be a number, got {temperature[:40]!r}",
                    error_type="InvalidParameters",
                    retryable=False,
                ) from None
        if activity.in_activity():
            activity.heartbeat()
        try:
            response = await self._http.post("chat/completions", json=body, headers=self._headers)
        except httpx.HTTPError as err:
            raise ProviderError(
                f"openai endpoint unreachable: {err}",
                error_type="ProviderUnavailable",
                retryable=True,
            ) from err
        if response.status_code >= 400:
            raise ProviderError(
                f"openai endpoint answered {response.status_code}: {response.text[:300]}",
                error_type="ProviderRejected",
                retryable=response.status_code in _RETRYABLE_STATUS,
            )
        try:
            payload = response.json()
            message = payload["choices"][0]["message"]["content"] or ""
            if not isinstance(message, str):
                raise TypeError(f"message content is a {type(message).__name__}, not text")
            usage = payload.get("usage") or {}
            # Some compatible servers send null counts; absent or null means unknown (0).
            input_tokens = int(usage.get("prompt_tokens") or 0)
            output_tokens = int(usage.get("completion_tokens") or 0)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise ProviderError(
                f"openai endpoint answered an unexpected body: {err!r}",
                error_type="ProviderProtocolError",
                retryable=False,
            ) from None
        return StepResult(
            message=message, done=True, input_tokens=input_tokens, output_tokens=output_tokens
        )
