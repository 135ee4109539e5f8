from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from callback_token._errors import TokenError, TokenRejection
from callback_token._keys import KeyRing
from stigma.agent.v1.agent_pb2 import AgentSpec
from stigma.agent.v1.callback_pb2 import CallbackTarget, SignedCallback

# Signed tokens are small; anything far larger is hostile or a mistake.
MAX_TOKEN_BYTES = 16 * 1024
# Clocks of signer and verifier may disagree this much.
CLOCK_SKEW = timedelta(seconds=30)


def fingerprint(token: bytes) -> str:
    """First 12 hex chars of SHA-256: what logs and status show instead of a token."""
    return hashlib.sha256(token).hexdigest()[:12]


def spec_digest(spec: AgentSpec) -> bytes:
    """SHA-256 of the spec's deterministic protobuf serialization: the one canonical form
    the signer (zigflow-worker) and the verifier (stigma-api) both bind a token to.

    Deterministic serialization writes known fields in field-number order and map entries
    sorted by key, so the same spec gives the same bytes on both sides whatever order its
    maps were filled in. Fields added to AgentSpec later keep this true as long as both
    sides know them (a side that does not keeps them as unknown fields, written after the
    known ones: new fields take higher numbers).
    """
    return hashlib.sha256(spec.SerializeToString(deterministic=True)).digest()


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def _to_ts(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


@dataclass(frozen=True)
class VerifiedCallback:
    """A token that passed every check, with its parsed target."""

    target: CallbackTarget
    key_id: str
    fingerprint: str
    bound: bool = True
    """False for an envelope signed before tokens were bound to their request (no
    request_id), accepted only by a verifier told to (``accept_unbound``)."""

    @property
    def expires_at(self) -> datetime:
        return self.target.expires_at.ToDatetime(tzinfo=UTC)


class CallbackSigner:
    """Wraps a caller's activity in a signed envelope (used by Zigflow)."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    def sign(
        self,
        *,
        namespace: str,
        workflow_id: str,
        run_id: str,
        activity_id: str,
        attempt: int,
        task_token: bytes,
        request_id: str,
        spec: AgentSpec,
        valid_for: timedelta,
        heartbeat_timeout: timedelta | None = None,
        traceparent: str = "",
        now: datetime | None = None,
    ) -> bytes:
        """Return the serialized SignedCallback for one activity attempt, bound to the
        StartAgent ``request_id`` and ``spec`` it travels with."""
        if not request_id:
            raise ValueError("request_id: a callback token is bound to a request id")
        issued = now or datetime.now(UTC)
        target = CallbackTarget(
            namespace=namespace,
            workflow_id=workflow_id,
            run_id=run_id,
            activity_id=activity_id,
            attempt=attempt,
            task_token=task_token,
            issued_at=_to_ts(issued),
            expires_at=_to_ts(issued + valid_for),
            traceparent=traceparent,
            heartbeat_timeout_ms=int(heartbeat_timeout.total_seconds() * 1000)
            if heartbeat_timeout
            else 0,
            request_id=request_id,
            spec_digest=spec_digest(spec),
        )
        payload = target.SerializeToString(deterministic=True)
        key_id = self._keys.signing_key_id
        signed = SignedCallback(
            target=payload, key_id=key_id, signature=_mac(self._keys[key_id], payload)
        )
        return signed.SerializeToString(deterministic=True)


class CallbackVerifier:
    """Checks a token before anything starts (used by stigma-api).

    ``accept_unbound``: also accept envelopes signed before tokens were bound to their
    request (no request_id; a zigflow-worker of an older version during a rolling deploy).
    Off by default: docs/adr/0013 says when to turn it on and off.
    """

    def __init__(
        self, keys: KeyRing, *, namespaces: Collection[str], accept_unbound: bool = False
    ) -> None:
        self._keys = keys
        self._namespaces = frozenset(namespaces)
        self._accept_unbound = accept_unbound

    def verify(
        self,
        token: bytes,
        *,
        request_id: str,
        spec: AgentSpec,
        now: datetime | None = None,
    ) -> VerifiedCallback:
        """Return the verified target or raise TokenError saying what is wrong.

        ``request_id`` and ``spec`` are the request's: a token issued for another request
        id or another spec is refused (it would hand this request's outcome to a caller
        that asked for something else).
        """
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenError(
                TokenRejection.MALFORMED, f"callback_token is larger than {MAX_TOKEN_BYTES} bytes"
            )
        signed = SignedCallback()
        try:
            signed.ParseFromString(token)
        except DecodeError:
            raise TokenError(
                TokenRejection.MALFORMED, "callback_token is not a SignedCallback envelope"
            ) from None
        if not signed.target or not signed.signature:
            raise TokenError(
                TokenRejection.MALFORMED, "callback_token lacks a signed target or a signature"
            )
        secret = self._keys.get(signed.key_id)
        if secret is None:
            raise TokenError(
                TokenRejection.UNKNOWN_KEY,
                f"callback_token is signed with unknown key id {signed.key_id[:64]!r}",
            )
        if not hmac.compare_digest(_mac(secret, signed.target), signed.signature):
            raise TokenError(
                TokenRejection.BAD_SIGNATURE, "callback_token signature does not match its target"
            )
        target = CallbackTarget()
        try:
            target.ParseFromString(signed.target)
        except DecodeError:
            raise TokenError(
                TokenRejection.MALFORMED, "callback_token target is not a CallbackTarget"
            ) from None
        missing = [
            name
            for name in ("namespace", "workflow_id", "run_id", "activity_id", "task_token")
            if not getattr(target, name)
        ]
        if missing or not target.HasField("expires_at"):
            missing += [] if target.HasField("expires_at") else ["expires_at"]
            raise TokenError(
                TokenRejection.INCOMPLETE,
                f"callback_token target lacks {', '.join(missing)}",
            )
        moment = now or datetime.now(UTC)
        if target.expires_at.ToDatetime(tzinfo=UTC) <= moment - CLOCK_SKEW:
            raise TokenError(TokenRejection.EXPIRED, "callback_token has expired")
        if target.issued_at.ToDatetime(tzinfo=UTC) > moment + CLOCK_SKEW:
            raise TokenError(TokenRejection.NOT_YET_VALID, "callback_token is issued in the future")
        if target.namespace not in self._namespaces:
            raise TokenError(
                TokenRejection.WRONG_NAMESPACE,
                f"callback_token targets namespace {target.namespace[:64]!r}, "
                "which this server does not serve",
            )
        bound = self._check_binding(target, request_id=request_id, spec=spec)
        return VerifiedCallback(
            target=target, key_id=signed.key_id, fingerprint=fingerprint(token), bound=bound
        )

    def _check_binding(self, target: CallbackTarget, *, request_id: str, spec: AgentSpec) -> bool:
        """True when the token is bound to this request; False for an accepted unbound one."""
        if not target.request_id:
            if target.spec_digest:
                raise TokenError(
                    TokenRejection.INCOMPLETE, "callback_token target lacks request_id"
                )
            if self._accept_unbound:
                return False
            raise TokenError(
                TokenRejection.UNBOUND,
                "callback_token is not bound to a request (no request_id: signed by a "
                "zigflow-worker older than token binding)",
            )
        if not target.spec_digest:
            raise TokenError(TokenRejection.INCOMPLETE, "callback_token target lacks spec_digest")
        if target.request_id != request_id:
            raise TokenError(
                TokenRejection.WRONG_REQUEST,
                "callback_token was issued for another request: request_id differs",
            )
        if not hmac.compare_digest(target.spec_digest, spec_digest(spec)):
            raise TokenError(
                TokenRejection.WRONG_SPEC,
                "callback_token was issued for another spec: the SHA-256 of spec differs",
            )
        return True
