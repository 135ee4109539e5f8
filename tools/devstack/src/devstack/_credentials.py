"""The local stack's callers of stigma-api: one API key per principal, made once per state
folder and kept private (0600), as the callback key is (docs/adr/0014).

stigma-api gets a file of their digests (STIGMA_API_API_KEYS_FILE: no secret in it), the
zigflow-worker the file of its own key; the demo's step printer, the tests and the
benchmark call as ``operator`` (or as the test's tenants); ``stigmactl approve`` reads the
operator's key file (STIGMACTL_STIGMA_API_KEY_FILE, printed by ``make up``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack._private import private_dir, private_file, write_private
from stigma_api.auth import OPERATOR_ROLE, digest_entry
from stigma_wire import CallerCredentials

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class ApiPrincipal:
    """A caller the local stack makes an API key for."""

    name: str
    tenant: str = DEFAULT_TENANT
    roles: tuple[str, ...] = ()


ZIGFLOW_WORKER = ApiPrincipal("zigflow-worker")
"""The worker's service principal: its agents belong to the default tenant."""
OPERATOR = ApiPrincipal("operator", roles=(OPERATOR_ROLE,))
"""Acts on every tenant's executions: the demo, stigmactl, the tests' own calls."""
STACK_PRINCIPALS = (ZIGFLOW_WORKER, OPERATOR)


class StackKeys:
    """The API keys of one state folder (``<state>/api-keys/``)."""

    def __init__(self, state_dir: Path, principals: Sequence[ApiPrincipal]) -> None:
        self.folder = private_dir(state_dir / "api-keys")
        self.principals = {principal.name: principal for principal in principals}
        for name in self.principals:
            if not self.key_file(name).exists():
                write_private(self.key_file(name), secrets.token_urlsafe(32) + "\n")
            private_file(self.key_file(name))
        write_private(self.server_file, "\n".join(self.server_entries()) + "\n")

    def key_file(self, name: str) -> Path:
        if name not in self.principals:
            raise KeyError(f"no API key for {name!r}; the stack knows {sorted(self.principals)}")
        return self.folder / f"{name}.key"

    def key(self, name: str) -> str:
        return self.key_file(name).read_text().strip()

    @property
    def server_file(self) -> Path:
        """stigma-api's STIGMA_API_API_KEYS_FILE: every principal, with its key's digest."""
        return self.folder / "stigma-api.keys"

    def server_entries(self) -> list[str]:
        return [
            digest_entry(p.name, p.tenant, "+".join(p.roles), self.key(p.name))
            for p in self.principals.values()
        ]

    def credentials(self, name: str) -> CallerCredentials:
        return CallerCredentials(api_key_file=str(self.key_file(name)))
