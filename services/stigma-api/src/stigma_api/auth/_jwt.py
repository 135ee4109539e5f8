"""Bearer JWTs: signed by a key of the configured JWKS, from the configured issuer, for
the configured audience, not expired. The subject names the principal; two claims give
its tenant and roles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt

from stigma_api.auth._errors import AuthenticationFailed, Refusal
from stigma_api.auth._jwks import JwksCache, SigningKey
from stigma_api.auth._principal import Mechanism, Principal, is_tenant_name

MAX_TOKEN_CHARS = 16 * 1024
MAX_SUBJECT_CHARS = 256
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
# Never accepted, whatever the settings say: unsigned tokens, and shared-secret algorithms
# (a JWKS is public: an HMAC key in it would let anyone sign).
REFUSED_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})


@dataclass(frozen=True)
class JwtRules:
    """What a bearer token must satisfy (STIGMA_API_JWT_* settings)."""

    issuer: str
    """The ``iss`` every token must carry."""
    audience: tuple[str, ...]
    """Tokens must name one of these in ``aud``."""
    algorithms: frozenset[str]
    """Signature algorithms accepted."""
    tenant_claim: str = "tenant"
    """Claim (a dotted path for nested claims) holding the principal's tenant."""
    roles_claim: str = "roles"
    """Claim (dotted path) holding the roles: a list, or a space-separated string."""
    leeway: timedelta = timedelta(seconds=30)
    """Clock skew allowed on ``exp``, ``nbf`` and ``iat``."""


def _fail(message: str) -> AuthenticationFailed:
    return AuthenticationFailed(Refusal.JWT, f"bearer token: {message}")


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _roles(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, Sequence) and all(isinstance(role, str) for role in value):
        return frozenset(value)
    raise _fail("the roles claim is neither a list of strings nor a string")


class JwtVerifier:
    def __init__(self, rules: JwtRules, jwks: JwksCache) -> None:
        self._rules = rules
        self._jwks = jwks

    @property
    def jwks(self) -> JwksCache:
        return self._jwks

    async def verify(self, token: str) -> Principal:
        """The token's principal; AuthenticationFailed saying what is wrong otherwise."""
        rules = self._rules
        if len(token) > MAX_TOKEN_CHARS:
            raise _fail(f"longer than {MAX_TOKEN_CHARS} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _fail("not a JWT (header.payload.signature, base64url)") from None
        algorithm = header.get("alg")
        if (
            not isinstance(algorithm, str)
            or algorithm in REFUSED_ALGORITHMS
            or algorithm not in rules.algorithms
        ):
            raise _fail(
                f"algorithm {algorithm!r} is not accepted "
                f"(STIGMA_API_JWT_ALGORITHMS: {', '.join(sorted(rules.algorithms))})"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _fail("'kid' is not a string")
        key = await self._jwks.key(kid)
        if key is None:
            raise _fail(
                f"unknown key id {kid!r} (not in the JWKS {self._jwks.description})"
                if kid is not None
                else "no 'kid' in the header, and the JWKS holds more than one key"
            )
        if key.algorithm is not None and key.algorithm != algorithm:
            raise _fail(f"key {kid!r} is for {key.algorithm}, not {algorithm}")
        claims = self._decode(token, key, algorithm)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_CHARS:
            raise _fail(f"'sub' must be a string of 1 to {MAX_SUBJECT_CHARS} characters")
        tenant = _claim(claims, rules.tenant_claim)
        if tenant is None:
            raise _fail(f"claim {rules.tenant_claim!r} (the tenant) is missing")
        if not isinstance(tenant, str) or not is_tenant_name(tenant):
            raise _fail(
                f"claim {rules.tenant_claim!r} is not a tenant name "
                "(1-63 letters, digits, '.', '_' or '-')"
            )
        return Principal(
            name=subject,
            tenant=tenant,
            roles=_roles(_claim(claims, rules.roles_claim)),
            mechanism=Mechanism.JWT,
        )

    def _decode(self, token: str, key: SigningKey, algorithm: str) -> dict[str, Any]:
        rules = self._rules
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=list(rules.audience),
                issuer=rules.issuer,
                leeway=rules.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise _fail("has expired") from None
        except jwt.ImmatureSignatureError:
            raise _fail("is not valid yet ('nbf' or 'iat' in the future)") from None
        except jwt.InvalidAudienceError:
            raise _fail(f"audience is not {' or '.join(map(repr, rules.audience))}") from None
        except jwt.InvalidIssuerError:
            raise _fail(f"issuer is not {rules.issuer!r}") from None
        except jwt.MissingRequiredClaimError as err:
            raise _fail(f"claim {err.claim!r} is missing") from None
        except jwt.InvalidSignatureError:
            raise _fail("signature does not verify with the JWKS key") from None
        except (jwt.PyJWTError, ValueError, TypeError) as err:
            raise _fail(f"invalid ({type(err).__name__})") from None
        return claims
