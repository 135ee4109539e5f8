from __future__ import annotations

from enum import StrEnum


class Refusal(StrEnum):
    """Why a call was not authenticated (a metric label; the message says more)."""

    MISSING = "missing"
    AMBIGUOUS = "ambiguous"
    NOT_ACCEPTED = "not_accepted"
    API_KEY = "api_key"
    JWT = "jwt"
    CERTIFICATE = "certificate"


class AuthenticationFailed(Exception):
    """The caller is not authenticated: answered UNAUTHENTICATED with this message, which
    says what was missing or wrong and never repeats a credential."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
