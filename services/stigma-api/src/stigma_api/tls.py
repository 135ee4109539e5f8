"""TLS and mTLS for the gRPC server, from STIGMA_API_TLS_* settings."""

from __future__ import annotations

from pathlib import Path

import grpc

from service_kit import SettingsLoadError
from stigma_api.settings import ApiSettings


def _read(variable: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise SettingsLoadError(f"{variable}: cannot read {path!r}: {err.strerror}") from None


def server_credentials(settings: ApiSettings) -> grpc.ServerCredentials | None:
    """None for plaintext; TLS when a certificate is set; mTLS when a client CA is set too."""
    cert, key, client_ca = (
        settings.tls_cert_path,
        settings.tls_key_path,
        settings.tls_client_ca_path,
    )
    if not (cert or key or client_ca):
        return None
    if not (cert and key):
        raise SettingsLoadError(
            "STIGMA_API_TLS_CERT_PATH and STIGMA_API_TLS_KEY_PATH must be set together"
            + (" (STIGMA_API_TLS_CLIENT_CA_PATH needs them)" if client_ca else "")
        )
    pair = (
        _read("STIGMA_API_TLS_KEY_PATH", key),
        _read("STIGMA_API_TLS_CERT_PATH", cert),
    )
    roots = _read("STIGMA_API_TLS_CLIENT_CA_PATH", client_ca) if client_ca else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=roots, require_client_auth=roots is not None
    )
