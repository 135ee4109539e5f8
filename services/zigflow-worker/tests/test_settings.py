"""The worker's settings for secrets, continue-as-new, egress and the expression sandbox
fail fast on bad values."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from egress_policy import EgressPolicy
from service_kit import SettingsLoadError, load_settings
from zigflow.dsl.sandbox import SandboxLimits
from zigflow.dsl.yaml_source import YamlLimits
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
    assert loaded.egress_policy == EgressPolicy(max_response_bytes=10 * 1024 * 1024)


def test_the_egress_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings(
        monkeypatch,
        ZIGFLOW_EGRESS_ALLOW="127.0.0.1/32, ::1/128, localhost",
        ZIGFLOW_EGRESS_DENY="10.0.0.0/8,*.internal.example",
        ZIGFLOW_MAX_RESPONSE_BYTES="4096",
    )
    assert loaded.egress_policy == EgressPolicy.parse(
        allow="127.0.0.1/32,::1/128,localhost",
        deny="10.0.0.0/8,*.internal.example",
        max_response_bytes=4096,
    )


def test_the_expression_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch).expression_limits == SandboxLimits(
        timeout=timedelta(seconds=1),
        max_memory_bytes=256 * 1024 * 1024,
        max_output_bytes=4 * 1024 * 1024,
    )
    loaded = settings(
        monkeypatch,
        ZIGFLOW_EXPRESSION_TIMEOUT="PT1.5S",
        ZIGFLOW_EXPRESSION_MAX_MEMORY_BYTES=str(512 * 1024 * 1024),
        ZIGFLOW_EXPRESSION_MAX_OUTPUT_BYTES="65536",
        ZIGFLOW_EXPRESSION_PROCESSES="4",
    )
    assert loaded.expression_limits == SandboxLimits(
        timeout=timedelta(seconds=1.5), max_memory_bytes=512 * 1024 * 1024, max_output_bytes=65536
    )
    assert loaded.expression_processes == 4


def test_a_secrets_folder_and_a_threshold(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    loaded = settings(
        monkeypatch,
        ZIGFLOW_SECRETS_DIR=str(tmp_path),
        ZIGFLOW_CONTINUE_AS_NEW_AFTER_EVENTS="2000",
    )
    assert (loaded.secrets_dir, loaded.continue_as_new_after_events) == (tmp_path, 2000)


def test_a_run_takes_a_quarter_of_the_slots_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch).activities_per_run == 25
    assert settings(monkeypatch, ZIGFLOW_MAX_CONCURRENT_ACTIVITIES="2").activities_per_run == 1
    loaded = settings(
        monkeypatch, ZIGFLOW_MAX_CONCURRENT_ACTIVITIES="8", ZIGFLOW_MAX_ACTIVITIES_PER_RUN="8"
    )
    assert loaded.activities_per_run == 8


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ZIGFLOW_SECRETS_DIR", "/no/such/folder"),
        ("ZIGFLOW_CONTINUE_AS_NEW_AFTER_EVENTS", "10"),
        ("ZIGFLOW_EGRESS_ALLOW", "10.0.0.1/8"),
        ("ZIGFLOW_EGRESS_DENY", "http://example.com"),
        ("ZIGFLOW_MAX_RESPONSE_BYTES", "0"),
        ("ZIGFLOW_EXPRESSION_TIMEOUT", "0"),
        ("ZIGFLOW_EXPRESSION_TIMEOUT", "soon"),
        ("ZIGFLOW_EXPRESSION_TIMEOUT", "PT2S"),
        ("ZIGFLOW_EXPRESSION_MAX_MEMORY_BYTES", "1000000"),
        ("ZIGFLOW_EXPRESSION_MAX_OUTPUT_BYTES", "0"),
        ("ZIGFLOW_EXPRESSION_PROCESSES", "0"),
        ("ZIGFLOW_MAX_ACTIVITIES_PER_RUN", "0"),
        ("ZIGFLOW_MAX_ACTIVITIES_PER_RUN", "101"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(SettingsLoadError, match=f"bad environment: {name}: "):
        settings(monkeypatch, **{name: value})


def test_the_keys_can_come_from_a_file_only_its_owner_reads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "callback-keys"
    path.write_text(KEYS)
    path.chmod(0o600)
    monkeypatch.delenv("CALLBACK_KEYS", raising=False)
    monkeypatch.setenv("CALLBACK_KEYS_FILE", str(path))
    assert load_settings(ZigflowSettings).keyring.signing_key_id == "k1"
    path.chmod(0o640)
    with pytest.raises(
        SettingsLoadError, match=f"environment: CALLBACK_KEYS_FILE: .*{path} has mode 0640"
    ):
        load_settings(ZigflowSettings)


def test_metrics_bind_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch).metrics_host == "127.0.0.1"


def test_the_yaml_limits_are_worker_settings_too(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch).yaml_limits == YamlLimits()
    loaded = settings(monkeypatch, ZIGFLOW_YAML_MAX_ALIAS_NODES="50", ZIGFLOW_YAML_MAX_DEPTH="9")
    assert loaded.yaml_limits == YamlLimits(max_alias_nodes=50, max_depth=9)
    with pytest.raises(SettingsLoadError, match="ZIGFLOW_YAML_MAX_BYTES"):
        settings(monkeypatch, ZIGFLOW_YAML_MAX_BYTES="0")
