"""How definition files are read: the part of the zigflow-worker's environment the ``zigflow``
CLI reads too, so ``validate``, ``run`` and the worker refuse the same files.

Kept apart from ``zigflow.settings`` (keys, gRPC, egress), so ``zigflow validate`` starts
without importing the worker's whole stack.
"""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from zigflow.dsl.yaml_source import (
    DEFAULT_MAX_ALIAS_NODES,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    YamlLimits,
)

ENV_PREFIX = "ZIGFLOW_"


class DefinitionSettings(BaseSettings):
    """``ZIGFLOW_YAML_*``: the limits every definition file is read under."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    yaml_max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    """Largest definition file, in bytes."""
    yaml_max_depth: int = Field(default=DEFAULT_MAX_DEPTH, gt=0)
    """Deepest nesting of YAML maps and lists in a definition."""
    yaml_max_alias_nodes: int = Field(default=DEFAULT_MAX_ALIAS_NODES, ge=0)
    """How many nodes the YAML aliases of one file may stand for together, each counted as
    if expanded where it is used (a "billion laughs" file stands for 9^9)."""

    @property
    def yaml_limits(self) -> YamlLimits:
        return YamlLimits(
            max_bytes=self.yaml_max_bytes,
            max_depth=self.yaml_max_depth,
            max_alias_nodes=self.yaml_max_alias_nodes,
        )


def load_definition_settings() -> DefinitionSettings:
    """The settings from the environment; a bad variable is a ``ValueError`` naming it."""
    try:
        return DefinitionSettings()
    except ValidationError as err:
        problems = [
            f"{ENV_PREFIX}{str(error['loc'][0]).upper()}: {error['msg']}" for error in err.errors()
        ]
        raise ValueError("bad environment: " + "; ".join(problems)) from None
