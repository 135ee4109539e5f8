"""mTLS client identity: a client certificate (verified by gRPC against
STIGMA_API_TLS_CLIENT_CA_PATH) maps to a principal through ``name:tenant:roles:identity``
entries, the identity being the certificate's common name or one of its subject
alternative names (a DNS name, a URI such as a SPIFFE id, an e-mail address)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stigma_api.auth._principal import Entry, EntryError, Mechanism, Principal, parse_entries

COMMON_NAME = "x509_common_name"
ALT_NAMES = "x509_subject_alternative_name"
SECURITY_TYPE = "transport_security_type"


def certificate_identities(auth_context: Mapping[str, Iterable[bytes]]) -> list[str]:
    """The verified certificate's alternative names, then its common name ([] without one)."""
    if b"ssl" not in list(auth_context.get(SECURITY_TYPE, ())):
        return []
    names = [value.decode(errors="replace") for value in auth_context.get(ALT_NAMES, ())]
    names += [value.decode(errors="replace") for value in auth_context.get(COMMON_NAME, ())]
    return names


class CertificatePrincipals:
    """Maps a client certificate's identity to its principal."""

    def __init__(self, entries: list[Entry]) -> None:
        self._by_identity: dict[str, Principal] = {}
        for entry in entries:
            if entry.secret in self._by_identity:
                raise EntryError(f"{entry.where}: identity {entry.secret!r} is mapped twice")
            self._by_identity[entry.secret] = entry.principal

    @classmethod
    def parse(cls, text: str, *, source: str) -> CertificatePrincipals:
        return cls(parse_entries(text, source=source, mechanism=Mechanism.MTLS))

    def __len__(self) -> int:
        return len(self._by_identity)

    def lookup(self, identities: Iterable[str]) -> Principal | None:
        """The principal of the first identity that is mapped (alternative names first)."""
        for identity in identities:
            principal = self._by_identity.get(identity)
            if principal is not None:
                return principal
        return None
