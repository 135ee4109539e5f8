"""The signed callback-token envelope.

A raw Temporal task token lets whoever holds it complete the activity. On the wire
it is wrapped in a ``SignedCallback``: a serialized ``CallbackTarget`` (namespace,
ids, attempt, expiry, trace context, the task token, and the request id and spec digest
of the StartAgent call it travels with) plus an HMAC-SHA256 over exactly those bytes.
Zigflow signs; stigma-api verifies before it starts anything, and refuses a token sent
with another request id or another spec.
"""

from callback_token._envelope import (
    CallbackSigner,
    CallbackVerifier,
    VerifiedCallback,
    fingerprint,
    spec_digest,
)
from callback_token._errors import TokenError, TokenRejection
from callback_token._keys import KeyRing, KeyRingError, load_key_ring

__all__ = [
    "CallbackSigner",
    "CallbackVerifier",
    "KeyRing",
    "KeyRingError",
    "TokenError",
    "TokenRejection",
    "VerifiedCallback",
    "fingerprint",
    "load_key_ring",
    "spec_digest",
]
