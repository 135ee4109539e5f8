"""The worker's credential for stigma-api: one of an API key (file or inline) or a JWT
file, checked at start-up naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from service_kit import SettingsLoadError, load_settings
from stigma_wire import CallerCredentials
from zigflow.environment import take_secrets
from zigflow.settings import ZigflowSettings
from zigflow.stigma_channel import StigmaTls, stigma_channel

KEYS = "k1:" + "s" * 32


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ZigflowSettings:
    monkeypatch.setenv("CALLBACK_KEYS", KEYS)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(ZigflowSettings)


def test_a_key_file_is_the_credential(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "api-key"
    key.write_text("worker-key-0123456789\n")
    loaded = settings(monkeypatch, ZIGFLOW_STIGMA_API_KEY_FILE=str(key))
    assert loaded.stigma_credentials == CallerCredentials(
        api_key_file=str(key), names="ZIGFLOW_STIGMA_"
    )
    monkeypatch.delenv("ZIGFLOW_STIGMA_API_KEY_FILE")
    assert "worker-key" not in repr(settings(monkeypatch, ZIGFLOW_STIGMA_API_KEY="worker-key-x"))


def test_two_credentials_fail_at_start_up_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsLoadError) as caught:
        settings(monkeypatch, ZIGFLOW_STIGMA_API_KEY="k" * 20, ZIGFLOW_STIGMA_JWT_FILE="/token")
    assert "ZIGFLOW_STIGMA_API_KEY and ZIGFLOW_STIGMA_JWT_FILE: set only one credential" in str(
        caught.value
    )
    assert "k" * 20 not in str(caught.value)


def test_an_unreadable_jwt_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsLoadError, match="ZIGFLOW_STIGMA_JWT_FILE: cannot read '/nowhere'"):
        settings(monkeypatch, ZIGFLOW_STIGMA_JWT_FILE="/nowhere")


async def test_the_channel_carries_the_credential_interceptors() -> None:
    async with stigma_channel(
        "127.0.0.1:1", StigmaTls(), credentials=CallerCredentials(api_key="k" * 20)
    ) as channel:
        assert channel._unary_unary_interceptors  # the key goes with every unary call
        assert channel._unary_stream_interceptors


def test_an_inline_api_key_leaves_the_environment_workflows_can_read() -> None:
    environ = {"ZIGFLOW_STIGMA_API_KEY": "k" * 20, "PATH": "/bin"}
    take_secrets(environ)
    assert environ == {"PATH": "/bin"}
