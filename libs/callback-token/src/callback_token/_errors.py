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


class TokenError(ValueError):
    """A callback token that must not be used. The message never contains the token."""

    def __init__(self, reason: TokenRejection, message: str) -> None:
        super().__init__(message)
        self.reason = reason
