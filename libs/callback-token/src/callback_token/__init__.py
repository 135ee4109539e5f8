"""The signed callback-token envelope.

A raw Temporal task token lets whoever holds it complete the activity. On the wire
it is wrapped in a ``SignedCallback``: a serialized ``CallbackTarget`` (namespace,
ids, attempt, expiry, trace context and the task token) plus an HMAC-SHA256 over
exactly those bytes. Zigflow signs; stigma-api verifies before it starts anything.
"""

from callback_token._envelope import (
    CallbackSigner,
    CallbackVerifier,
    VerifiedCallback,
    fingerprint,
)
from callback_token._errors import TokenError, TokenRejection
from callback_token._keys import KeyRing, KeyRingError

__all__ = [
    "CallbackSigner",
    "CallbackVerifier",
    "KeyRing",
    "KeyRingError",
    "TokenError",
    "TokenRejection",
    "VerifiedCallback",
    "fingerprint",
]
