"""TLS settings fail fast with the variable's name; the whole-spec size limit names ``spec``."""

from __future__ import annotations

from pathlib import Path

import pytest

from service_kit import SettingsLoadError
from stigma.agent.v1.agent_pb2 import AgentSpec
from stigma_api.settings import ApiSettings
from stigma_api.tls import server_credentials
from stigma_api.validation import InvalidRequest, Limits, validate_spec

KEYS = "k:0123456789abcdef0123"


def _settings(**tls: str) -> ApiSettings:
    return ApiSettings.model_validate({"CALLBACK_KEYS": KEYS, **tls})


def test_no_tls_settings_means_plaintext() -> None:
    assert server_credentials(_settings()) is None


@pytest.mark.parametrize(
    "tls",
    [
        {"tls_cert_path": "server.pem"},
        {"tls_key_path": "server-key.pem"},
        {"tls_client_ca_path": "ca.pem"},
    ],
)
def test_certificate_and_key_go_together(tls: dict[str, str]) -> None:
    with pytest.raises(
        SettingsLoadError, match="STIGMA_API_TLS_CERT_PATH and STIGMA_API_TLS_KEY_PATH"
    ):
        server_credentials(_settings(**tls))


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(SettingsLoadError, match="STIGMA_API_TLS_KEY_PATH: cannot read"):
        server_credentials(_settings(tls_cert_path=str(missing), tls_key_path=str(missing)))


def test_a_spec_too_large_in_all_is_refused_naming_spec() -> None:
    limits = Limits(
        providers=frozenset({"scripted"}),
        max_input_bytes=4096,
        max_parameters=8,
        max_parameter_bytes=4096,
        max_steps=10,
        max_spec_bytes=8192,
    )
    spec = AgentSpec(
        input="x" * 4000,
        instructions="y" * 4000,
        model="scripted:echo",
        parameters={"a": "z" * 4000},
    )
    with pytest.raises(InvalidRequest, match=r"^spec: is \d+ bytes in all; the limit is 8192$"):
        validate_spec(spec, limits)
