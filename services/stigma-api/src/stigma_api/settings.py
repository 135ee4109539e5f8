from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from agent_contract import MODEL_PROVIDERS
from callback_token import KeyRing, load_key_ring
from service_kit import ServiceSettings
from stigma_api.auth._principal import is_tenant_name


class TenantQuotaSetting(BaseModel):
    """One tenant's exception to the STIGMA_API_TENANT_* defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_running: int | None = Field(default=None, ge=0)
    start_rate: float | None = Field(default=None, ge=0)
    start_burst: int | None = Field(default=None, ge=0)


class ApiSettings(ServiceSettings):
    """Environment of stigma-api (prefix ``STIGMA_API_``, plus the shared CALLBACK_KEYS or
    CALLBACK_KEYS_FILE)."""

    model_config = SettingsConfigDict(env_prefix="STIGMA_API_", extra="ignore", frozen=True)

    listen_address: str = "127.0.0.1:50051"
    """host:port the gRPC server binds: loopback unless told otherwise (the images set
    ``0.0.0.0:50051``), so a local run is not reachable from the network by accident."""
    callback_keys: str = Field(default="", validation_alias="CALLBACK_KEYS", repr=False)
    """Shared HMAC keys, ``key_id:secret,...``; every key verifies. This or
    CALLBACK_KEYS_FILE is required: there is no default secret, so a forgotten setting fails
    at start-up instead of accepting forgeries."""
    callback_keys_file: Path | None = Field(
        default=None, validation_alias="CALLBACK_KEYS_FILE", validate_default=True
    )
    """A file holding the keys (same format), readable by its owner only (refused at
    start-up otherwise): keeps the key out of the process environment."""
    accept_unbound_tokens: bool = False
    """Accept callback tokens signed before tokens were bound to their request (no
    request_id; a zigflow-worker of an older version). Only during a rolling deploy that
    cannot upgrade the zigflow-workers first (docs/adr/0013); each one accepted is logged
    and counted (stigma_unbound_tokens_accepted_total)."""
    callback_namespaces: str = ""
    """Comma-separated Temporal namespaces whose activities this server may complete
    (default: the namespace in TEMPORAL_NAMESPACE)."""
    providers: str = ",".join(MODEL_PROVIDERS)
    """Comma-separated model providers a spec may name: all the ai-worker serves
    (agent_contract.MODEL_PROVIDERS) by default, or fewer."""
    max_input_bytes: int = 256 * 1024
    """Largest spec.input (and spec.instructions) accepted."""
    max_parameters: int = 64
    """Most entries in spec.parameters (and spec.labels)."""
    max_parameter_bytes: int = 16 * 1024
    """Largest single parameter or label value."""
    max_steps_limit: int = 1000
    """Largest spec.max_steps accepted (model calls of one run)."""
    mcp_config: Path | None = Field(default=None, validation_alias="STIGMA_MCP_CONFIG")
    """The operator's MCP servers (the workers' file): when set, a spec naming a server
    that is not in it is refused at once instead of failing later."""
    max_spec_bytes: int = Field(default=768 * 1024, ge=1024, le=1024 * 1024)
    """Largest whole spec (serialized): keeps the run's input and status well under
    Temporal's 2 MB payload limit whatever the single fields add up to."""
    max_running_executions: int = Field(default=10_000, ge=0)
    """Admission limit: agent executions running at once (0: no limit). Beyond it a new
    StartAgent answers RESOURCE_EXHAUSTED; replays of known requests are still accepted."""
    admission_refresh: timedelta = timedelta(seconds=1)
    """How long one visibility count of running executions is reused."""
    tls_cert_path: str = ""
    """PEM server certificate (chain): set with TLS_KEY_PATH to serve TLS instead of plaintext."""
    tls_key_path: str = Field(default="", repr=False)
    """PEM private key of the server certificate."""
    tls_client_ca_path: str = ""
    """PEM CA bundle: when set, clients must present a certificate it signed (mTLS)."""
    graceful_shutdown: timedelta = timedelta(seconds=10)
    """How long in-flight RPCs may finish after SIGTERM."""
    watch_poll_interval: timedelta = timedelta(milliseconds=250)
    """How often WatchExecution looks for a change."""
    pending_poll_interval: timedelta = timedelta(seconds=15)
    """How often the pending-agent-call gauges are re-read from Temporal visibility."""

    # Callers: who may call, and how much (docs/adr/0014). At least one mechanism, or
    # ALLOW_ANONYMOUS, must be set: an unconfigured server refuses to start.
    api_keys: str = Field(default="", repr=False)
    """Static API keys, ``name:tenant:roles:key`` entries (roles joined with '+'), comma-
    separated; a key may be ``sha256:<hex>`` of the key. Prefer API_KEYS_FILE."""
    api_keys_file: Path | None = None
    """A file of API key entries, one per line (``#`` comments)."""
    jwt_issuer: str = ""
    """Bearer JWTs: the ``iss`` they must carry (with JWT_AUDIENCE and JWT_JWKS)."""
    jwt_audience: str = ""
    """Comma-separated audiences; a token must name one of them in ``aud``."""
    jwt_jwks: str = ""
    """The issuer's JSON Web Key Set: an https:// (or http://) URL, or a file path."""
    jwt_algorithms: str = "RS256,ES256,PS256,EdDSA"
    """Signature algorithms accepted (never ``none`` nor the HMAC ones)."""
    jwt_tenant_claim: str = "tenant"
    """Claim holding the caller's tenant (a dotted path for a nested claim)."""
    jwt_roles_claim: str = "roles"
    """Claim holding the caller's roles: a list, or a space-separated string."""
    jwt_leeway: timedelta = timedelta(seconds=30)
    """Clock skew allowed on ``exp``, ``nbf`` and ``iat``."""
    jwt_jwks_refresh: timedelta = timedelta(minutes=5)
    """How long a fetched key set is used before it is fetched again (an unknown key id
    fetches it at once, at most every 10 s)."""
    tls_client_principals: str = ""
    """mTLS: ``name:tenant:roles:identity`` entries mapping a client certificate's common
    name or subject alternative name to a principal (needs TLS_CLIENT_CA_PATH)."""
    allow_anonymous: bool = False
    """Serve calls without credentials, as principal ``anonymous`` of ANONYMOUS_TENANT.
    Only for a network where every client is trusted."""
    anonymous_tenant: str = "default"
    """The tenant of anonymous callers (with ALLOW_ANONYMOUS)."""
    reflection: bool = False
    """Serve gRPC server reflection (authenticated like every other call)."""
    tenant_max_running: int = Field(default=0, ge=0)
    """Agent executions one tenant may have running at once (0: no per-tenant limit; the
    global MAX_RUNNING_EXECUTIONS still holds)."""
    tenant_start_rate: float = Field(default=0.0, ge=0)
    """StartAgent calls per second one tenant may make, per stigma-api process (0: none)."""
    tenant_start_burst: int = Field(default=0, ge=0)
    """Calls a tenant may make at once above its rate (0: the rate, at least 1)."""
    tenant_quotas: dict[str, TenantQuotaSetting] = Field(default_factory=dict)
    """Per-tenant exceptions, JSON: ``{"acme": {"max_running": 200, "start_rate": 20}}``;
    a field left out keeps the default above."""

    @field_validator("callback_keys_file")
    @classmethod
    def _check_keys(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        load_key_ring(keys=info.data.get("callback_keys", ""), keys_file=value)
        return value

    @property
    def keyring(self) -> KeyRing:
        return load_key_ring(keys=self.callback_keys, keys_file=self.callback_keys_file)

    @field_validator("providers")
    @classmethod
    def _check_providers(cls, value: str) -> str:
        unknown = {p.strip() for p in value.split(",") if p.strip()} - set(MODEL_PROVIDERS)
        if unknown:
            raise ValueError(
                f"unknown provider(s) {', '.join(sorted(unknown))}; "
                f"the ai-worker serves {', '.join(MODEL_PROVIDERS)}"
            )
        return value

    @property
    def provider_names(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.providers.split(",") if p.strip())

    @field_validator("anonymous_tenant")
    @classmethod
    def _check_anonymous_tenant(cls, value: str) -> str:
        if not is_tenant_name(value):
            raise ValueError("must be 1-63 letters, digits, '.', '_' or '-'")
        return value

    @field_validator("tenant_quotas")
    @classmethod
    def _check_quota_tenants(
        cls, value: dict[str, TenantQuotaSetting]
    ) -> dict[str, TenantQuotaSetting]:
        bad = [tenant for tenant in value if not is_tenant_name(tenant)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))} is not a tenant name")
        return value

    def namespaces(self, default: str) -> frozenset[str]:
        listed = {n.strip() for n in self.callback_namespaces.split(",") if n.strip()}
        return frozenset(listed or {default})
