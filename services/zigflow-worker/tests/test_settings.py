"""The worker's settings for secrets and continue-as-new fail fast on bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from service_kit import SettingsLoadError, load_settings
from zigflow.settings import ZigflowSettings

KEYS = "k1:" + "s" * 32


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ZigflowSettings:
    monkeypatch.setenv("CALLBACK_KEYS", KEYS)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(ZigflowSettings)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings(monkeypatch)
    assert loaded.secrets_dir is None
    assert loaded.continue_as_new_after_events == 10_000


def test_a_secrets_folder_and_a_threshold(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    loaded = settings(
        monkeypatch,
        ZIGFLOW_SECRETS_DIR=str(tmp_path),
        ZIGFLOW_CONTINUE_AS_NEW_AFTER_EVENTS="2000",
    )
    assert (loaded.secrets_dir, loaded.continue_as_new_after_events) == (tmp_path, 2000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ZIGFLOW_SECRETS_DIR", "/no/such/folder"),
        ("ZIGFLOW_CONTINUE_AS_NEW_AFTER_EVENTS", "10"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(SettingsLoadError, match=f"bad environment: {name}: "):
        settings(monkeypatch, **{name: value})
