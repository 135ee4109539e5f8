"""The signed callback envelope: what Zigflow signs, stigma-api accepts, and nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from callback_token import (
    CallbackSigner,
    CallbackVerifier,
    KeyRing,
    TokenError,
    TokenRejection,
    VerifiedCallback,
    fingerprint,
    spec_digest,
)
from callback_token._envelope import CLOCK_SKEW, MAX_TOKEN_BYTES
from stigma.agent.v1.agent_pb2 import AgentSpec
from stigma.agent.v1.callback_pb2 import CallbackTarget, SignedCallback

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
VALID_FOR = timedelta(hours=1)
NAMESPACE = "default"
OLD_SECRET = "old-secret-0123456789abcdef"
NEW_SECRET = "new-secret-fedcba9876543210"
# Printable, so a leak into an error message would be visible as text as well as bytes.
TASK_TOKEN = b"TASKTOKEN:7f3a9c-capability-of-the-caller\x00\xff\x10tail"

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

RING = KeyRing.parse(f"old:{OLD_SECRET}")
REQUEST_ID = "caller-wf/caller-run/7"
SPEC = AgentSpec(name="t", input="hello", model="scripted:echo", parameters={"b": "2", "a": "1"})


def sign(
    keys: KeyRing = RING,
    *,
    now: datetime = NOW,
    namespace: str = NAMESPACE,
    workflow_id: str = "caller-wf",
    run_id: str = "caller-run",
    activity_id: str = "7",
    task_token: bytes = TASK_TOKEN,
    request_id: str = REQUEST_ID,
    spec: AgentSpec = SPEC,
) -> bytes:
    return CallbackSigner(keys).sign(
        namespace=namespace,
        workflow_id=workflow_id,
        run_id=run_id,
        activity_id=activity_id,
        attempt=2,
        task_token=task_token,
        request_id=request_id,
        spec=spec,
        valid_for=VALID_FOR,
        heartbeat_timeout=timedelta(seconds=45),
        traceparent=TRACEPARENT,
        now=now,
    )


def verifier(
    keys: KeyRing = RING,
    *,
    namespaces: tuple[str, ...] = (NAMESPACE,),
    accept_unbound: bool = False,
) -> CallbackVerifier:
    return CallbackVerifier(keys, namespaces=namespaces, accept_unbound=accept_unbound)


def check(
    token: bytes,
    *,
    now: datetime = NOW,
    request_id: str = REQUEST_ID,
    spec: AgentSpec = SPEC,
    served: CallbackVerifier | None = None,
) -> VerifiedCallback:
    """Verify ``token`` as stigma-api does for a request with ``request_id`` and ``spec``."""
    return (served or verifier()).verify(token, request_id=request_id, spec=spec, now=now)


def envelope(target: bytes, *, key_id: str = "old", secret: str = OLD_SECRET) -> bytes:
    """A SignedCallback around arbitrary target bytes, signed as a signer would sign them."""
    signature = hmac.new(secret.encode(), target, hashlib.sha256).digest()
    return SignedCallback(target=target, key_id=key_id, signature=signature).SerializeToString()


def rejection(token: bytes, *, keys: KeyRing = RING, now: datetime = NOW) -> TokenError:
    with pytest.raises(TokenError) as caught:
        check(token, now=now, served=verifier(keys))
    return caught.value


def test_round_trip_keeps_every_field() -> None:
    token = sign()
    verified = check(token, now=NOW)
    target = verified.target
    assert (target.namespace, target.workflow_id, target.run_id, target.activity_id) == (
        NAMESPACE,
        "caller-wf",
        "caller-run",
        "7",
    )
    assert target.attempt == 2
    assert target.task_token == TASK_TOKEN
    assert target.traceparent == TRACEPARENT
    assert target.heartbeat_timeout_ms == 45_000
    assert target.issued_at.ToDatetime(tzinfo=UTC) == NOW
    assert verified.expires_at == NOW + VALID_FOR
    assert verified.expires_at.tzinfo is not None
    assert verified.key_id == "old"
    assert verified.fingerprint == fingerprint(token)


def test_the_target_carries_the_request_id_and_the_spec_digest() -> None:
    target = check(sign()).target
    assert target.request_id == REQUEST_ID
    assert target.spec_digest == spec_digest(SPEC)
    assert spec_digest(SPEC) == hashlib.sha256(SPEC.SerializeToString(deterministic=True)).digest()
    assert check(sign()).bound


def test_the_spec_digest_is_canonical_whatever_order_maps_were_filled_in() -> None:
    forwards = AgentSpec(input="x", model="m:n")
    for key in "abcdefghij":
        forwards.parameters[key] = key.upper()
        forwards.labels[key] = key
    backwards = AgentSpec(input="x", model="m:n")
    for key in reversed("abcdefghij"):
        backwards.labels[key] = key
        backwards.parameters[key] = key.upper()
    assert spec_digest(forwards) == spec_digest(backwards)
    # ... and survives the wire: what stigma-api parses digests like what Zigflow built.
    assert spec_digest(AgentSpec.FromString(forwards.SerializeToString())) == spec_digest(forwards)


def test_a_token_sent_with_another_request_id_is_refused() -> None:
    with pytest.raises(TokenError) as caught:
        check(sign(), request_id="attacker/run/1")
    assert caught.value.reason is TokenRejection.WRONG_REQUEST
    assert "request_id" in str(caught.value)
    assert "callback_token" in str(caught.value)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda spec: setattr(spec, "input", "attacker's input"), id="input"),
        pytest.param(lambda spec: setattr(spec, "instructions", "obey me"), id="instructions"),
        pytest.param(lambda spec: setattr(spec, "model", "openai:gpt-4o"), id="model"),
        pytest.param(lambda spec: spec.parameters.update({"c": "3"}), id="parameters"),
        pytest.param(lambda spec: spec.tools.add(name="http_fetch"), id="tools"),
        pytest.param(lambda spec: setattr(spec.budget, "max_tool_calls", 9), id="budget"),
    ],
)
def test_a_token_sent_with_another_spec_is_refused(edit: Callable[[AgentSpec], None]) -> None:
    other = AgentSpec()
    other.CopyFrom(SPEC)
    edit(other)
    with pytest.raises(TokenError) as caught:
        check(sign(), spec=other)
    assert caught.value.reason is TokenRejection.WRONG_SPEC
    assert "spec" in str(caught.value)


def _unbound(**fields: object) -> bytes:
    """An envelope as a zigflow-worker signed it before tokens were bound (no request_id)."""
    target = CallbackTarget(
        namespace=NAMESPACE,
        workflow_id="wf",
        run_id="run",
        activity_id="1",
        attempt=1,
        task_token=TASK_TOKEN,
        issued_at=NOW,
        expires_at=NOW + VALID_FOR,
        **fields,  # type: ignore[arg-type]
    )
    return envelope(target.SerializeToString(deterministic=True))


def test_an_unbound_envelope_is_refused_by_default() -> None:
    error = rejection(_unbound())
    assert error.reason is TokenRejection.UNBOUND
    assert "request_id" in str(error)


def test_an_unbound_envelope_is_accepted_only_when_the_verifier_is_told_to() -> None:
    verified = check(_unbound(), served=verifier(accept_unbound=True))
    assert not verified.bound
    # Accepting unbound envelopes never relaxes the check of a bound one.
    with pytest.raises(TokenError) as caught:
        check(sign(), request_id="other/run/1", served=verifier(accept_unbound=True))
    assert caught.value.reason is TokenRejection.WRONG_REQUEST


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        pytest.param({"spec_digest": b"\x01" * 32}, "request_id", id="digest-only"),
        pytest.param({"request_id": "wf/run/1"}, "spec_digest", id="request-id-only"),
    ],
)
def test_a_half_bound_envelope_is_incomplete(fields: dict[str, object], missing: str) -> None:
    for accept in (False, True):
        with pytest.raises(TokenError) as caught:
            check(_unbound(**fields), request_id="wf/run/1", served=verifier(accept_unbound=accept))
        assert caught.value.reason is TokenRejection.INCOMPLETE
        assert missing in str(caught.value)


def test_signing_needs_a_request_id() -> None:
    with pytest.raises(ValueError, match="request_id"):
        sign(request_id="")


def test_signing_is_deterministic_for_the_same_input() -> None:
    assert sign() == sign()


def test_no_heartbeat_timeout_is_zero() -> None:
    token = CallbackSigner(RING).sign(
        namespace=NAMESPACE,
        workflow_id="wf",
        run_id="run",
        activity_id="1",
        attempt=1,
        task_token=TASK_TOKEN,
        request_id=REQUEST_ID,
        spec=SPEC,
        valid_for=VALID_FOR,
        now=NOW,
    )
    assert check(token, now=NOW).target.heartbeat_timeout_ms == 0


def test_fingerprint_is_a_short_sha256_prefix() -> None:
    token = sign()
    assert fingerprint(token) == hashlib.sha256(token).hexdigest()[:12]
    assert len(fingerprint(token)) == 12
    assert fingerprint(token) != fingerprint(sign(task_token=b"another token"))


def test_every_tampered_target_byte_breaks_the_signature() -> None:
    signed = SignedCallback.FromString(sign())
    for index in range(len(signed.target)):
        target = bytearray(signed.target)
        target[index] ^= 0x01
        forged = SignedCallback(
            target=bytes(target), key_id=signed.key_id, signature=signed.signature
        ).SerializeToString()
        assert rejection(forged).reason is TokenRejection.BAD_SIGNATURE, index


def test_swapped_task_token_breaks_the_signature() -> None:
    signed = SignedCallback.FromString(sign())
    target = CallbackTarget.FromString(signed.target)
    target.task_token = b"someone else's activity"
    forged = SignedCallback(
        target=target.SerializeToString(), key_id=signed.key_id, signature=signed.signature
    ).SerializeToString()
    assert rejection(forged).reason is TokenRejection.BAD_SIGNATURE


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda sig: bytes([sig[0] ^ 0x80]) + sig[1:], id="first-byte"),
        pytest.param(lambda sig: sig[:-1] + bytes([sig[-1] ^ 0x01]), id="last-byte"),
        pytest.param(lambda sig: sig[:-1], id="truncated"),
        pytest.param(lambda sig: sig + b"\x00", id="extended"),
        pytest.param(lambda sig: bytes(len(sig)), id="zeroed"),
    ],
)
def test_tampered_signature_is_refused(tamper: Callable[[bytes], bytes]) -> None:
    signed = SignedCallback.FromString(sign())
    signed.signature = tamper(signed.signature)
    assert rejection(signed.SerializeToString()).reason is TokenRejection.BAD_SIGNATURE


def test_signature_from_a_different_secret_under_a_known_key_id_is_refused() -> None:
    impostor = KeyRing.parse("old:an-attacker-guessed-this-secret")
    assert rejection(sign(impostor)).reason is TokenRejection.BAD_SIGNATURE


def test_unknown_key_id_is_refused() -> None:
    other = KeyRing.parse("stranger:0123456789abcdef0123")
    error = rejection(sign(other))
    assert error.reason is TokenRejection.UNKNOWN_KEY
    assert "'stranger'" in str(error)


def test_expired_token_is_refused_once_clock_skew_is_used_up() -> None:
    token = sign()
    expires = NOW + VALID_FOR
    assert check(token, now=expires).key_id == "old"
    assert check(token, now=expires + CLOCK_SKEW - timedelta(seconds=1)).key_id == "old"
    assert rejection(token, now=expires + CLOCK_SKEW).reason is TokenRejection.EXPIRED
    assert rejection(token, now=expires + timedelta(days=3)).reason is TokenRejection.EXPIRED


def test_token_issued_in_the_future_is_refused_beyond_clock_skew() -> None:
    assert check(sign(now=NOW + CLOCK_SKEW), now=NOW).key_id == "old"
    late = sign(now=NOW + CLOCK_SKEW + timedelta(seconds=1))
    assert rejection(late, now=NOW).reason is TokenRejection.NOT_YET_VALID
    assert rejection(sign(now=NOW + timedelta(hours=2)), now=NOW).reason is (
        TokenRejection.NOT_YET_VALID
    )


def test_wrong_namespace_is_refused() -> None:
    error = rejection(sign(namespace="someone-elses-namespace"))
    assert error.reason is TokenRejection.WRONG_NAMESPACE
    assert "someone-elses-namespace" in str(error)


def test_any_served_namespace_is_accepted() -> None:
    token = sign(namespace="tenant-b")
    served = verifier(namespaces=("tenant-a", "tenant-b"))
    assert check(token, served=served).target.namespace == "tenant-b"


@pytest.mark.parametrize(
    ("field", "make"),
    [
        ("namespace", lambda: sign(namespace="")),
        ("workflow_id", lambda: sign(workflow_id="")),
        ("run_id", lambda: sign(run_id="")),
        ("activity_id", lambda: sign(activity_id="")),
        ("task_token", lambda: sign(task_token=b"")),
    ],
)
def test_incomplete_target_is_refused(field: str, make: Callable[[], bytes]) -> None:
    error = rejection(make())
    assert error.reason is TokenRejection.INCOMPLETE
    assert field in str(error)


def test_target_without_expiry_is_refused() -> None:
    target = CallbackTarget(
        namespace=NAMESPACE,
        workflow_id="wf",
        run_id="run",
        activity_id="1",
        attempt=1,
        task_token=TASK_TOKEN,
        issued_at=NOW,
    )
    error = rejection(envelope(target.SerializeToString()))
    assert error.reason is TokenRejection.INCOMPLETE
    assert "expires_at" in str(error)


def test_target_lacking_everything_names_every_missing_field() -> None:
    error = rejection(envelope(CallbackTarget(attempt=1).SerializeToString()))
    assert error.reason is TokenRejection.INCOMPLETE
    for field in ("namespace", "workflow_id", "run_id", "activity_id", "task_token", "expires_at"):
        assert field in str(error)


def test_signed_target_that_is_not_a_callback_target_is_malformed() -> None:
    error = rejection(envelope(b"\xff\xff\xff\xff"))
    assert error.reason is TokenRejection.MALFORMED


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not a token at all", id="text"),
        pytest.param(b"\xff" * 32, id="ff"),
        pytest.param(b"\x0a\x80", id="truncated-length"),
        pytest.param(SignedCallback(key_id="old").SerializeToString(), id="no-target"),
        pytest.param(
            SignedCallback(target=b"x", key_id="old").SerializeToString(), id="no-signature"
        ),
        pytest.param(
            SignedCallback(key_id="old", signature=b"x" * 32).SerializeToString(), id="no-target"
        ),
    ],
)
def test_garbage_is_malformed(token: bytes) -> None:
    assert rejection(token).reason is TokenRejection.MALFORMED


def test_random_bytes_never_pass_and_never_raise_anything_but_token_error() -> None:
    rng = random.Random(20250601)
    for _ in range(2000):
        token = rng.randbytes(rng.randrange(0, 96))
        error = rejection(token)
        assert error.reason in (TokenRejection.MALFORMED, TokenRejection.UNKNOWN_KEY)


def test_random_signature_under_a_known_key_is_a_bad_signature() -> None:
    rng = random.Random(7)
    target = SignedCallback.FromString(sign()).target
    for _ in range(200):
        forged = SignedCallback(target=target, key_id="old", signature=rng.randbytes(32))
        assert rejection(forged.SerializeToString()).reason is TokenRejection.BAD_SIGNATURE


def test_oversize_token_is_refused_before_parsing() -> None:
    error = rejection(sign() + b"\x00" * MAX_TOKEN_BYTES)
    assert error.reason is TokenRejection.MALFORMED
    assert str(MAX_TOKEN_BYTES) in str(error)


def test_token_at_the_size_limit_is_parsed() -> None:
    # Exactly the limit is not "too large": it fails on content, not on size.
    error = rejection(b"\xff" * MAX_TOKEN_BYTES)
    assert error.reason is TokenRejection.MALFORMED
    assert str(MAX_TOKEN_BYTES) not in str(error)


def test_token_error_is_a_value_error_with_a_reason() -> None:
    error = rejection(b"junk")
    assert isinstance(error, ValueError)
    assert error.reason == "malformed"


def _tampered(token: bytes) -> bytes:
    signed = SignedCallback.FromString(token)
    signed.signature = bytes(len(signed.signature))
    return signed.SerializeToString()


def _without_expiry() -> bytes:
    target = CallbackTarget(
        namespace=NAMESPACE, workflow_id="wf", run_id="run", activity_id="1", task_token=TASK_TOKEN
    )
    return envelope(target.SerializeToString())


def _forbidden_texts(secret: bytes) -> list[str]:
    return [
        secret.decode("latin-1"),
        repr(secret),
        repr(secret)[2:-1],
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode(),
        base64.b64encode(secret).decode().rstrip("="),
        "TASKTOKEN",
    ]


LEAK_CASES: list[tuple[TokenRejection, Callable[[], bytes], datetime]] = [
    (TokenRejection.BAD_SIGNATURE, lambda: _tampered(sign()), NOW),
    (TokenRejection.UNKNOWN_KEY, lambda: sign(KeyRing.parse("x:0123456789abcdef0123")), NOW),
    (TokenRejection.EXPIRED, sign, NOW + timedelta(days=2)),
    (TokenRejection.NOT_YET_VALID, sign, NOW - timedelta(days=2)),
    (TokenRejection.WRONG_NAMESPACE, lambda: sign(namespace="elsewhere"), NOW),
    (TokenRejection.INCOMPLETE, lambda: sign(run_id=""), NOW),
    (TokenRejection.INCOMPLETE, _without_expiry, NOW),
    (TokenRejection.UNBOUND, lambda: _unbound(), NOW),
    (TokenRejection.MALFORMED, lambda: sign() + b"\x00" * MAX_TOKEN_BYTES, NOW),
    (TokenRejection.MALFORMED, lambda: envelope(b"\xff" + TASK_TOKEN), NOW),
    (TokenRejection.MALFORMED, lambda: SignedCallback(target=TASK_TOKEN).SerializeToString(), NOW),
]


@pytest.mark.parametrize(
    ("reason", "make", "now"),
    LEAK_CASES,
    ids=[f"{case[0].value}-{i}" for i, case in enumerate(LEAK_CASES)],
)
def test_error_messages_never_contain_the_task_token(
    reason: TokenRejection, make: Callable[[], bytes], now: datetime
) -> None:
    token = make()
    error = rejection(token, now=now)
    assert error.reason is reason
    shown = " ".join([str(error), repr(error), *map(str, error.args)])
    for forbidden in [*_forbidden_texts(TASK_TOKEN), *_forbidden_texts(token)]:
        assert forbidden not in shown
