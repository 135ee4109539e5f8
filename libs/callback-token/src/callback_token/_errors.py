from __future__ import annotations

from enum import StrEnum


class TokenRejection(StrEnum):
    """Why a callback token was refused; also the ``reason`` label of the rejection metric."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_NAMESPACE = "wrong_namespace"
    INCOMPLETE = "incomplete"
    UNBOUND = "unbound"
    """Signed before tokens were bound to their request (no request_id): docs/adr/0013."""
    WRONG_REQUEST = "wrong_request"
    """Issued for another request_id, or its request_id is not its caller's own call."""
    WRONG_SPEC = "wrong_spec"
    """Issued for another spec (the SHA-256 of the spec differs)."""


class TokenError(ValueError):
    """A callback token that must not be used. The message never contains the token."""

    def __init__(self, reason: TokenRejection, message: str) -> None:
        super().__init__(message)
        self.reason = reason
