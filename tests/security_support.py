"""The callers the integration suite runs as, and the per-tenant quotas of its stack.

The suite's stack authenticates every caller, as users run it (docs/adr/0014): besides the
stack's own ``zigflow-worker`` and ``operator`` keys, it has a key for the suite's direct
calls (``suite``, tenant ``default``, the tenant of the zigflow-worker's agents), one per
tenant of the authorization matrix, and two tenants with tight quotas. The JWT tests'
identity provider (a signing key, its JWKS file, tokens) is here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devstack import ApiPrincipal

SUITE = ApiPrincipal("suite")
"""The tests' own calls: tenant ``default``, no role (not an operator)."""
TENANT_A = ApiPrincipal("alice", tenant="tenant-a")
TENANT_B = ApiPrincipal("bob", tenant="tenant-b")
QUOTA_RUNNING = ApiPrincipal("carol", tenant="quota-running")
QUOTA_RATE = ApiPrincipal("dave", tenant="quota-rate")
SUITE_PRINCIPALS = (SUITE, TENANT_A, TENANT_B, QUOTA_RUNNING, QUOTA_RATE)

MAX_RUNNING = 2
START_RATE = 0.2
START_BURST = 2
# Tight limits for two tenants of their own, so the quota tests cannot disturb the others.
STIGMA_API_QUOTAS = {
    "STIGMA_API_TENANT_QUOTAS": json.dumps(
        {
            QUOTA_RUNNING.tenant: {"max_running": MAX_RUNNING},
            QUOTA_RATE.tenant: {"start_rate": START_RATE, "start_burst": START_BURST},
        }
    )
}


ISSUER = "https://id.agent-handshake.test/"
AUDIENCE = "stigma-api"


@dataclass
class SigningKey:
    """An identity provider's RS256 key (made at test time) and the tokens it signs."""

    kid: str
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return public | {"kid": self.kid, "alg": "RS256", "use": "sig"}

    def token(
        self,
        subject: str,
        tenant: str,
        *,
        roles: tuple[str, ...] = (),
        valid_for: timedelta = timedelta(hours=2),
        **claims: Any,
    ) -> str:
        now = datetime.now(UTC)
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "tenant": tenant,
            "roles": list(roles),
            "iat": now,
            "exp": now + valid_for,
            **claims,
        }
        return jwt.encode(payload, self.private, algorithm="RS256", headers={"kid": self.kid})


def write_jwks(path: Path, *keys: SigningKey) -> Path:
    path.write_text(json.dumps({"keys": [key.jwk() for key in keys]}))
    return path


def jwt_settings(jwks: Path) -> dict[str, str]:
    """stigma-api's STIGMA_API_JWT_* for the test identity provider."""
    return {
        "STIGMA_API_JWT_ISSUER": ISSUER,
        "STIGMA_API_JWT_AUDIENCE": AUDIENCE,
        "STIGMA_API_JWT_JWKS": str(jwks),
    }
