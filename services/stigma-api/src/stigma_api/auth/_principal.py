"""Who calls: a principal (name, tenant, roles), and the ``name:tenant:roles:secret``
entries API keys and certificate identities are configured with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

OPERATOR_ROLE = "operator"
"""May act on the executions of every tenant (read, watch, cancel, decide)."""
KNOWN_ROLES = frozenset({OPERATOR_ROLE})

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:/+-]{0,199}$")


class Mechanism(StrEnum):
    """How a principal proved who it is."""

    API_KEY = "api_key"
    JWT = "jwt"
    MTLS = "mtls"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller of stigma-api."""

    name: str
    """Who: the API key's principal, the JWT's ``sub``, the certificate's mapped name."""
    tenant: str
    """Whose executions it starts and may read; a tenant's runs are invisible to others."""
    roles: frozenset[str] = field(default_factory=frozenset)
    """``operator`` acts on every tenant's executions."""
    mechanism: Mechanism = Mechanism.API_KEY

    @property
    def operator(self) -> bool:
        return OPERATOR_ROLE in self.roles

    def may_act_on(self, tenant: str) -> bool:
        """Whether this caller may read, watch, cancel or decide a run of ``tenant``."""
        return self.operator or tenant == self.tenant

    def describe(self) -> str:
        """For logs: never a credential, only who."""
        roles = f" roles={','.join(sorted(self.roles))}" if self.roles else ""
        return f"{self.name}@{self.tenant} via {self.mechanism.value}{roles}"


def is_tenant_name(value: str) -> bool:
    """Tenant names are restricted, so they are safe in a visibility query and a log line."""
    return bool(_TENANT.match(value))


class EntryError(ValueError):
    """A bad ``name:tenant:roles:secret`` entry; the message says where and why."""


@dataclass(frozen=True)
class Entry:
    principal: Principal
    secret: str
    """The last field: an API key (or ``sha256:<hex>`` of one), or a certificate identity."""
    where: str
    """``file:line`` or ``VARIABLE entry N``, for errors."""


def parse_entries(
    text: str, *, source: str, mechanism: Mechanism, from_file: bool = False
) -> list[Entry]:
    """Entries separated by commas or new lines; ``#`` starts a comment line.

    ``source`` names where the text came from (a variable, or a file when ``from_file``),
    for the errors (``file:line: ...``, ``VARIABLE entry 2: ...``), which never repeat the
    secret field.
    """
    entries: list[Entry] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith("#"):
            continue
        for raw in line.split(","):
            item = raw.strip()
            if not item:
                continue
            where = f"{source}:{line_number}" if from_file else f"{source} entry {len(entries) + 1}"
            entries.append(_entry(item, where=where, mechanism=mechanism))
    return entries


def _entry(item: str, *, where: str, mechanism: Mechanism) -> Entry:
    parts = item.split(":", 3)
    if len(parts) != 4 or not parts[3]:
        raise EntryError(
            f"{where}: an entry is name:tenant:roles:{_secret_name(mechanism)} "
            f"(roles joined with '+', may be empty); got {len(parts)} field(s)"
        )
    name, tenant, roles_text, secret = (part.strip() for part in parts)
    if not _NAME.match(name):
        raise EntryError(f"{where}: principal name {name!r} is not a name")
    if not is_tenant_name(tenant):
        raise EntryError(
            f"{where}: tenant {tenant!r} must be 1-63 letters, digits, '.', '_' or '-'"
        )
    roles = frozenset(role.strip() for role in roles_text.split("+") if role.strip())
    unknown = roles - KNOWN_ROLES
    if unknown:
        raise EntryError(
            f"{where}: unknown role(s) {', '.join(sorted(unknown))} of {name!r}; "
            f"known: {', '.join(sorted(KNOWN_ROLES))}"
        )
    return Entry(Principal(name, tenant, roles, mechanism), secret, where)


def _secret_name(mechanism: Mechanism) -> str:
    return "identity" if mechanism is Mechanism.MTLS else "key"
