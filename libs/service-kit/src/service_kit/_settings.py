from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

S = TypeVar("S", bound=BaseSettings)


class ServiceSettings(BaseSettings):
    """Settings every service has. Each service subclasses it with its own prefix.

    Temporal's connection is NOT here: it comes from Temporal's own environment
    variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
    TEMPORAL_TLS_CLIENT_CERT_PATH, ...) through ``temporalio.envconfig``, so the same
    process runs against a dev server, a self-hosted cluster or Temporal Cloud.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    log_level: str = "INFO"
    """Python logging level name."""
    metrics_port: int = 0
    """Port of the Prometheus /metrics endpoint (the service's own and the Temporal SDK's
    metrics); 0 turns the endpoint off."""
    metrics_host: str = "127.0.0.1"
    """Address the /metrics endpoint binds: loopback unless told otherwise (the images set
    ``0.0.0.0``, where Prometheus scrapes over the container network)."""


class SettingsLoadError(ValueError):
    """The environment does not describe a runnable service; the message names each variable."""


def load_settings(cls: type[S]) -> S:
    """Build the settings, turning pydantic's report into one line per bad variable."""
    try:
        return cls()
    except ValidationError as err:
        prefix = str(cls.model_config.get("env_prefix", ""))
        # A field read from a variable of its own (CALLBACK_KEYS) is reported by that name.
        aliases = {
            field.validation_alias
            for field in cls.model_fields.values()
            if isinstance(field.validation_alias, str)
        }
        problems = []
        for error in err.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            field = cls.model_fields.get(name)
            alias = field.validation_alias if field is not None else None
            if name in aliases:
                variable = name
            else:
                variable = alias if isinstance(alias, str) else f"{prefix}{name}".upper()
            problems.append(f"{variable}: {error['msg']}")
        raise SettingsLoadError("bad environment: " + "; ".join(problems)) from None
    except SettingsError as err:
        raise SettingsLoadError(f"bad environment: {err}") from None
