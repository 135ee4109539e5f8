"""One call, one principal: from a bearer JWT, an API key, a client certificate, or (when
the operator allows it) anonymous.

An explicit credential in the metadata decides; a client certificate counts only without
one. A credential that is presented and wrong is refused even if another would pass:
nothing falls back silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from stigma_api.auth._api_keys import ApiKeys
from stigma_api.auth._errors import AuthenticationFailed, Refusal
from stigma_api.auth._jwt import JwtVerifier
from stigma_api.auth._mtls import CertificatePrincipals, certificate_identities
from stigma_api.auth._principal import Principal
from stigma_wire import API_KEY_HEADER, AUTHORIZATION_HEADER

Metadata = Sequence[tuple[str, str | bytes]]


@dataclass(frozen=True)
class Authenticator:
    """The mechanisms this server accepts (docs/adr/0014). None: not accepted."""

    api_keys: ApiKeys | None = None
    jwt: JwtVerifier | None = None
    certificates: CertificatePrincipals | None = None
    anonymous: Principal | None = None
    """The principal of calls without any credential; None refuses them."""

    @property
    def mechanisms(self) -> list[str]:
        """What a caller may present, for messages and the start-up log."""
        offered = []
        if self.jwt is not None:
            offered.append(f"a JWT in '{AUTHORIZATION_HEADER}: Bearer ...'")
        if self.api_keys is not None:
            offered.append(f"an API key in '{API_KEY_HEADER}'")
        if self.certificates is not None:
            offered.append("a client certificate mapped in STIGMA_API_TLS_CLIENT_PRINCIPALS")
        return offered

    async def authenticate(
        self, metadata: Metadata, auth_context: Mapping[str, Iterable[bytes]]
    ) -> Principal:
        keys = _values(metadata, API_KEY_HEADER)
        bearers = _values(metadata, AUTHORIZATION_HEADER)
        if len(keys) + len(bearers) > 1:
            raise AuthenticationFailed(
                Refusal.AMBIGUOUS,
                f"send one credential: either '{API_KEY_HEADER}' or '{AUTHORIZATION_HEADER}', once",
            )
        if bearers:
            return await self._bearer(bearers[0])
        if keys:
            return self._api_key(keys[0])
        identities = certificate_identities(auth_context)
        if self.certificates is not None and identities:
            principal = self.certificates.lookup(identities)
            if principal is None:
                raise AuthenticationFailed(
                    Refusal.CERTIFICATE,
                    f"the client certificate ({', '.join(identities)}) is not mapped to a "
                    "principal in STIGMA_API_TLS_CLIENT_PRINCIPALS",
                )
            return principal
        if self.anonymous is not None:
            return self.anonymous
        raise AuthenticationFailed(
            Refusal.MISSING,
            "no credentials: send " + " or ".join(self.mechanisms or ["(none configured)"]),
        )

    async def _bearer(self, value: str) -> Principal:
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed(
                Refusal.JWT, f"'{AUTHORIZATION_HEADER}' must be 'Bearer <JWT>'"
            )
        if self.jwt is None:
            raise AuthenticationFailed(
                Refusal.NOT_ACCEPTED,
                "bearer tokens are not accepted here (STIGMA_API_JWT_* is not configured)",
            )
        return await self.jwt.verify(token.strip())

    def _api_key(self, key: str) -> Principal:
        if self.api_keys is None:
            raise AuthenticationFailed(
                Refusal.NOT_ACCEPTED,
                "API keys are not accepted here (STIGMA_API_API_KEYS[_FILE] is not configured)",
            )
        principal = self.api_keys.lookup(key.strip())
        if principal is None:
            raise AuthenticationFailed(Refusal.API_KEY, f"'{API_KEY_HEADER}': unknown API key")
        return principal


def _values(metadata: Metadata, header: str) -> list[str]:
    found = []
    for key, value in metadata:
        if key.lower() == header:
            found.append(value.decode(errors="replace") if isinstance(value, bytes) else value)
    return found
