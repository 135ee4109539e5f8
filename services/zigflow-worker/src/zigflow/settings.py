from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from callback_token import KeyRing, load_key_ring
from egress_policy import DEFAULT_MAX_RESPONSE_BYTES, EgressPolicy
from service_kit import ServiceSettings
from stigma_wire import CallerCredentials, CredentialsError
from zigflow.definition_settings import DefinitionSettings
from zigflow.dsl.options import DEFAULT_CONTINUE_AS_NEW_AFTER
from zigflow.dsl.sandbox import MEBIBYTE, SandboxLimits
from zigflow.stigma_channel import StigmaTls

# The Python SDK fails a workflow activation that takes longer (not configurable).
DEADLOCK_DETECTION = timedelta(seconds=2)


class ZigflowSettings(ServiceSettings, DefinitionSettings):
    """Environment of the zigflow-worker (prefix ``ZIGFLOW_``, plus the shared CALLBACK_KEYS or
    CALLBACK_KEYS_FILE)."""

    model_config = SettingsConfigDict(env_prefix="ZIGFLOW_", extra="ignore", frozen=True)

    workflows_dir: Path = Path("examples")
    """Folder of DSL definitions (*.yaml, *.yml); each becomes a workflow type."""
    stigma_address: str = "localhost:50051"
    """host:port of stigma-api."""
    stigma_tls: bool = False
    """Use TLS (system roots) to reach stigma-api; implied by any STIGMA_TLS_*_PATH."""
    stigma_tls_ca_path: str = ""
    """PEM CA bundle that signed stigma-api's certificate."""
    stigma_tls_cert_path: str = ""
    """PEM client certificate, for an stigma-api that requires mTLS."""
    stigma_tls_key_path: str = Field(default="", repr=False)
    """PEM private key of the client certificate."""
    stigma_tls_server_name: str = ""
    """Name expected in stigma-api's certificate when the address's host differs."""
    stigma_api_key_file: str = ""
    """File holding the API key this worker authenticates to stigma-api with (a mounted
    secret, re-read every 30 s). One of API_KEY_FILE, API_KEY, JWT_FILE or an mTLS client
    certificate mapped to a principal: stigma-api refuses anonymous callers."""
    stigma_api_key: str = Field(default="", repr=False)
    """The API key itself, for setups without files (compose); prefer STIGMA_API_KEY_FILE."""
    stigma_jwt_file: str = Field(default="", validate_default=True)
    """File holding a JWT for stigma-api (a projected service-account token; re-read
    every 30 s)."""
    callback_keys: str = Field(default="", validation_alias="CALLBACK_KEYS", repr=False)
    """Shared HMAC keys, ``key_id:secret,...``; the first one signs. This or
    CALLBACK_KEYS_FILE is required. Removed from the process environment once read
    (``zigflow.environment``), so no workflow expression can read it."""
    callback_keys_file: Path | None = Field(
        default=None, validation_alias="CALLBACK_KEYS_FILE", validate_default=True
    )
    """A file holding the keys (same format), readable by its owner only (refused at
    start-up otherwise)."""
    build_id: str = ""
    """Worker Versioning: this build's id (a release, or a tag of the definitions it
    serves). Set, the worker joins version ``deployment_name``/``build_id`` and each run is
    pinned to the build it started on, with the definitions and interpreter of that build
    (docs/adr/0019, docs/scaling.md); empty, versioning is off."""
    deployment_name: str = "zigflow-worker"
    """The worker deployment the build belongs to."""
    max_concurrent_activities: int = 100
    """Activity slots. A pending agent call holds none, so this can stay small."""
    max_activities_per_run: int | None = Field(default=None, ge=1)
    """How many ``call: http`` / ``call: grpc`` activities one run may have out at once
    (the rest wait inside the run, holding no slot). Unset: a quarter of
    ``max_concurrent_activities``, so one run's fork cannot take every slot of its queue.
    Each run reads it once and keeps it (docs/adr/0021)."""
    max_cached_workflows: int = 100
    """Workflows kept in memory between their tasks. A call that waits hours on an agent
    need not stay cached: evicted, it is replayed from history when the agent answers, so
    memory stays flat however many calls are pending."""
    start_agent_timeout: timedelta = timedelta(seconds=10)
    """Deadline of one StartAgent RPC; the activity retries after it."""
    pending_poll_interval: timedelta = Field(default=timedelta(seconds=15), gt=timedelta(0))
    """How often the pending-agent-call gauges (``zigflow_pending_agent_calls``, ...) are
    re-read from Temporal visibility."""
    graceful_shutdown: timedelta = timedelta(seconds=10)
    """How long running activities may take to finish after SIGTERM."""
    secrets_dir: Path | None = None
    """Folder of secrets for ``use.secrets``: one file (or folder of files) per secret,
    as a mounted Kubernetes Secret. ``ZIGFLOW_SECRET_<NAME>`` variables are read too."""
    continue_as_new_after_events: int = Field(default=DEFAULT_CONTINUE_AS_NEW_AFTER, ge=100)
    """History length after which a long ``for`` continues the run as new. Part of the
    workflows' behaviour: change it only when no long loop is running (or by versioning)."""

    expression_timeout: timedelta = Field(
        default=timedelta(seconds=1), gt=timedelta(0), lt=DEADLOCK_DETECTION
    )
    """Wall-clock time one evaluation of a document's jq may take (one expression, or the
    expressions of one field such as a ``with`` map); past it the task fails with an
    ``expression`` error. Part of the workflows' behaviour: keep it far above what the
    documents need. Below 2 s: a workflow task that takes longer is failed by the SDK's
    deadlock detection (and retried for ever) before the limit could fail the task."""
    expression_max_memory_bytes: int = Field(default=256 * MEBIBYTE, ge=64 * MEBIBYTE)
    """Address space of each expression process (the interpreter and jq included)."""
    expression_max_output_bytes: int = Field(default=4 * MEBIBYTE, gt=0)
    """JSON size of all the results of one evaluation (or of its error message)."""
    expression_processes: int = Field(default=2, ge=1)
    """Expression processes kept running; more evaluations at once wait for one."""

    egress_allow: str = ""
    """Where ``call: http`` / ``call: grpc`` may connect: comma-separated CIDR networks,
    IPs, host names and ``*.`` wildcards. Empty: every public and private address, but
    not the built-in refusals (loopback, link-local / cloud metadata, ...); not empty:
    only what a rule matches. A rule that names a built-in refusal lifts it."""
    egress_deny: str = ""
    """Destinations refused whatever ``egress_allow`` says (same syntax)."""
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, gt=0)
    """Largest response ``call: http`` reads and ``call: grpc`` receives, in bytes."""

    @field_validator("max_activities_per_run")
    @classmethod
    def _check_share(cls, value: int | None, info: ValidationInfo) -> int | None:
        slots = info.data.get("max_concurrent_activities")
        if value is not None and slots is not None and value > slots:
            raise ValueError(
                f"{value} is more than ZIGFLOW_MAX_CONCURRENT_ACTIVITIES ({slots}): "
                "one run could take every activity slot of its queue"
            )
        return value

    @property
    def activities_per_run(self) -> int:
        """``max_activities_per_run``, or a quarter of the slots when it is unset."""
        if self.max_activities_per_run is not None:
            return self.max_activities_per_run
        return max(1, self.max_concurrent_activities // 4)

    @field_validator("egress_allow")
    @classmethod
    def _check_allow(cls, value: str) -> str:
        EgressPolicy.parse(allow=value)
        return value

    @field_validator("egress_deny")
    @classmethod
    def _check_deny(cls, value: str) -> str:
        EgressPolicy.parse(deny=value)
        return value

    @field_validator("secrets_dir")
    @classmethod
    def _check_secrets_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    @field_validator("callback_keys_file")
    @classmethod
    def _check_keys(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        load_key_ring(keys=info.data.get("callback_keys", ""), keys_file=value)
        return value

    @property
    def keyring(self) -> KeyRing:
        return load_key_ring(keys=self.callback_keys, keys_file=self.callback_keys_file)

    @field_validator("stigma_jwt_file")
    @classmethod
    def _check_stigma_credentials(cls, value: str, info: ValidationInfo) -> str:
        credentials = CallerCredentials(
            api_key=info.data.get("stigma_api_key", ""),
            api_key_file=info.data.get("stigma_api_key_file", ""),
            jwt_file=value,
            names="ZIGFLOW_STIGMA_",
        )
        try:
            credentials.check()
        except CredentialsError as err:
            raise ValueError(str(err)) from None
        return value

    @property
    def stigma_credentials(self) -> CallerCredentials:
        """How this worker proves who it is to stigma-api (besides a client certificate)."""
        return CallerCredentials(
            api_key=self.stigma_api_key,
            api_key_file=self.stigma_api_key_file,
            jwt_file=self.stigma_jwt_file,
            names="ZIGFLOW_STIGMA_",
        )

    @property
    def stigma_tls_config(self) -> StigmaTls:
        return StigmaTls(
            enabled=self.stigma_tls,
            ca_path=self.stigma_tls_ca_path,
            cert_path=self.stigma_tls_cert_path,
            key_path=self.stigma_tls_key_path,
            server_name=self.stigma_tls_server_name,
        )

    @property
    def expression_limits(self) -> SandboxLimits:
        return SandboxLimits(
            timeout=self.expression_timeout,
            max_memory_bytes=self.expression_max_memory_bytes,
            max_output_bytes=self.expression_max_output_bytes,
        )

    @property
    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy.parse(
            allow=self.egress_allow,
            deny=self.egress_deny,
            max_response_bytes=self.max_response_bytes,
        )
