"""stigma-api's security settings: keys from an owner-only file, loopback by default, and
envelopes signed before token binding refused unless a rolling deploy asks otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from service_kit import SettingsLoadError, load_settings
from stigma_api.settings import ApiSettings

KEYS = "k:0123456789abcdef0123"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CALLBACK_KEYS", "CALLBACK_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    # Whatever else the service needs to start (caller authentication): not what this tests.
    monkeypatch.setenv("STIGMA_API_ALLOW_ANONYMOUS", "true")


def _key_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "callback-keys"
    path.write_text(KEYS + "\n")
    path.chmod(mode)
    return path


def test_defaults_bind_loopback_and_refuse_unbound_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_KEYS", KEYS)
    settings = load_settings(ApiSettings)
    assert settings.listen_address == "127.0.0.1:50051"
    assert settings.metrics_host == "127.0.0.1"
    assert settings.accept_unbound_tokens is False


def test_the_keys_can_come_from_a_file_only_its_owner_reads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CALLBACK_KEYS_FILE", str(_key_file(tmp_path, 0o600)))
    assert list(load_settings(ApiSettings).keyring) == ["k"]


def test_a_key_file_others_may_read_stops_the_start_naming_its_path_and_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _key_file(tmp_path, 0o644)
    monkeypatch.setenv("CALLBACK_KEYS_FILE", str(path))
    with pytest.raises(SettingsLoadError) as refused:
        load_settings(ApiSettings)
    message = str(refused.value)
    assert message.startswith("bad environment: CALLBACK_KEYS_FILE: ")
    assert f"{path} has mode 0644" in message
    assert "0123456789abcdef" not in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "CALLBACK_KEYS_FILE: .*required: set CALLBACK_KEYS_FILE"),
        ({"CALLBACK_KEYS": KEYS, "CALLBACK_KEYS_FILE": "x"}, "not both"),
    ],
)
def test_exactly_one_source_of_keys(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsLoadError, match=expected):
        load_settings(ApiSettings)
