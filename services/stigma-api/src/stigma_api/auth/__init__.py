"""Who calls stigma-api: caller authentication (docs/adr/0014).

One module per mechanism: API keys (``_api_keys``), bearer JWTs against a JWKS (``_jwt``,
``_jwks``), mTLS client identities (``_mtls``); ``_authenticator`` picks the one a call
presents, and ``AuthInterceptor`` runs it on every call but health checks. Handlers read
the caller with ``current_principal()``. ``stigma_api.auth.setup`` builds it all from the
settings.
"""

from stigma_api.auth._api_keys import ApiKeys, digest_entry, key_digest
from stigma_api.auth._authenticator import Authenticator
from stigma_api.auth._errors import AuthenticationFailed, Refusal
from stigma_api.auth._interceptor import AuthInterceptor, NotAuthenticated, current_principal
from stigma_api.auth._jwks import FileJwks, JwksCache, JwksError, UrlJwks, parse_jwks
from stigma_api.auth._jwt import JwtRules, JwtVerifier
from stigma_api.auth._mtls import CertificatePrincipals, certificate_identities
from stigma_api.auth._principal import (
    OPERATOR_ROLE,
    EntryError,
    Mechanism,
    Principal,
    is_tenant_name,
)

__all__ = [
    "OPERATOR_ROLE",
    "ApiKeys",
    "AuthInterceptor",
    "AuthenticationFailed",
    "Authenticator",
    "CertificatePrincipals",
    "EntryError",
    "FileJwks",
    "JwksCache",
    "JwksError",
    "JwtRules",
    "JwtVerifier",
    "Mechanism",
    "NotAuthenticated",
    "Principal",
    "Refusal",
    "UrlJwks",
    "certificate_identities",
    "current_principal",
    "digest_entry",
    "is_tenant_name",
    "key_digest",
    "parse_jwks",
]
