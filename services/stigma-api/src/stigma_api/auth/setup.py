"""Build the authenticator from STIGMA_API_* settings, failing fast with the variable's
name: a server that cannot tell its callers apart does not start (docs/adr/0014)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service_kit import SettingsLoadError
from stigma_api.auth._api_keys import ApiKeys
from stigma_api.auth._authenticator import Authenticator
from stigma_api.auth._jwks import JwksCache, JwksError, jwks_source
from stigma_api.auth._jwt import REFUSED_ALGORITHMS, JwtRules, JwtVerifier
from stigma_api.auth._mtls import CertificatePrincipals
from stigma_api.auth._principal import EntryError, Mechanism, Principal
from stigma_api.settings import ApiSettings

UNCONFIGURED = (
    "no caller authentication is configured: set STIGMA_API_API_KEYS_FILE (or "
    "STIGMA_API_API_KEYS), STIGMA_API_JWT_ISSUER + STIGMA_API_JWT_AUDIENCE + "
    "STIGMA_API_JWT_JWKS, or STIGMA_API_TLS_CLIENT_PRINCIPALS (with mTLS); or "
    "STIGMA_API_ALLOW_ANONYMOUS=true to serve every caller as tenant "
    "STIGMA_API_ANONYMOUS_TENANT on a network where all clients are trusted"
)


def api_keys(settings: ApiSettings) -> ApiKeys | None:
    keys: ApiKeys | None = None
    try:
        if settings.api_keys:
            keys = ApiKeys.parse(settings.api_keys, source="STIGMA_API_API_KEYS")
        if settings.api_keys_file is not None:
            path = settings.api_keys_file
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as err:
                raise SettingsLoadError(
                    f"STIGMA_API_API_KEYS_FILE: cannot read {str(path)!r}: {err}"
                ) from None
            from_file = ApiKeys.parse(text, source=str(path), from_file=True)
            if not len(from_file):
                raise SettingsLoadError(f"STIGMA_API_API_KEYS_FILE: {str(path)!r} has no entry")
            keys = from_file if keys is None else keys.merged(from_file)
    except EntryError as err:
        raise SettingsLoadError(f"STIGMA_API_API_KEYS: {err}") from None
    return keys


def jwt_rules(settings: ApiSettings) -> JwtRules | None:
    given = {
        "STIGMA_API_JWT_ISSUER": settings.jwt_issuer,
        "STIGMA_API_JWT_AUDIENCE": settings.jwt_audience,
        "STIGMA_API_JWT_JWKS": settings.jwt_jwks,
    }
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise SettingsLoadError(
            f"{', '.join(missing)}: must be set with the other STIGMA_API_JWT_* settings "
            "(issuer, audience and JWKS go together)"
        )
    algorithms = frozenset(a.strip() for a in settings.jwt_algorithms.split(",") if a.strip())
    refused = algorithms & REFUSED_ALGORITHMS
    if refused or not algorithms:
        raise SettingsLoadError(
            "STIGMA_API_JWT_ALGORITHMS: "
            + (f"{', '.join(sorted(refused))} is never accepted" if refused else "is empty")
        )
    return JwtRules(
        issuer=settings.jwt_issuer,
        audience=tuple(a.strip() for a in settings.jwt_audience.split(",") if a.strip()),
        algorithms=algorithms,
        tenant_claim=settings.jwt_tenant_claim,
        roles_claim=settings.jwt_roles_claim,
        leeway=settings.jwt_leeway,
    )


def certificate_principals(settings: ApiSettings) -> CertificatePrincipals | None:
    if not settings.tls_client_principals:
        return None
    if not settings.tls_client_ca_path:
        raise SettingsLoadError(
            "STIGMA_API_TLS_CLIENT_PRINCIPALS: needs STIGMA_API_TLS_CLIENT_CA_PATH "
            "(client certificates are only verified with mTLS)"
        )
    try:
        return CertificatePrincipals.parse(
            settings.tls_client_principals, source="STIGMA_API_TLS_CLIENT_PRINCIPALS"
        )
    except EntryError as err:
        raise SettingsLoadError(str(err)) from None


@asynccontextmanager
async def authenticator(settings: ApiSettings) -> AsyncIterator[Authenticator]:
    """The server's authenticator, its JWKS loaded (and its HTTP client closed after)."""
    keys = api_keys(settings)
    rules = jwt_rules(settings)
    certificates = certificate_principals(settings)
    anonymous = (
        Principal("anonymous", settings.anonymous_tenant, mechanism=Mechanism.ANONYMOUS)
        if settings.allow_anonymous
        else None
    )
    if keys is None and rules is None and certificates is None and anonymous is None:
        raise SettingsLoadError(UNCONFIGURED)
    jwks = (
        JwksCache(jwks_source(settings.jwt_jwks), refresh=settings.jwt_jwks_refresh)
        if rules is not None
        else None
    )
    try:
        if jwks is not None:
            try:
                await jwks.load()
            except JwksError as err:
                raise SettingsLoadError(f"STIGMA_API_JWT_JWKS: {err}") from None
        yield Authenticator(
            api_keys=keys,
            jwt=JwtVerifier(rules, jwks) if rules is not None and jwks is not None else None,
            certificates=certificates,
            anonymous=anonymous,
        )
    finally:
        if jwks is not None:
            await jwks.aclose()
