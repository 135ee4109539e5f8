"""The key ring: CALLBACK_KEYS parsing, rotation, and secrets that never show."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callback_token import (
    CallbackSigner,
    CallbackVerifier,
    KeyRing,
    KeyRingError,
    TokenError,
    TokenRejection,
    load_key_ring,
)
from stigma.agent.v1.agent_pb2 import AgentSpec

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OLD = "old-secret-0123456789abcdef"
NEW = "new-secret-fedcba9876543210"
SPEC = AgentSpec(input="hello", model="scripted:echo")


def _sign(keys: KeyRing) -> bytes:
    return CallbackSigner(keys).sign(
        namespace="default",
        workflow_id="wf",
        run_id="run",
        activity_id="1",
        attempt=1,
        task_token=b"task-token",
        request_id="wf/run/1",
        spec=SPEC,
        valid_for=timedelta(hours=1),
        now=NOW,
    )


def _verify(keys: KeyRing, token: bytes) -> str:
    verifier = CallbackVerifier(keys, namespaces=["default"])
    return verifier.verify(token, request_id="wf/run/1", spec=SPEC, now=NOW).key_id


def test_parse_keeps_order_and_the_first_key_signs() -> None:
    ring = KeyRing.parse(f"new:{NEW},old:{OLD}")
    assert list(ring) == ["new", "old"]
    assert len(ring) == 2
    assert ring.signing_key_id == "new"
    assert ring["new"] == NEW.encode()
    assert ring["old"] == OLD.encode()
    assert "old" in ring
    assert ring.get("missing") is None
    with pytest.raises(KeyError):
        ring["missing"]


def test_parse_tolerates_spaces_and_empty_items() -> None:
    ring = KeyRing.parse(f"  new:{NEW} , ,old:{OLD},  ")
    assert list(ring) == ["new", "old"]


def test_secret_may_contain_colons() -> None:
    assert KeyRing.parse("k:abc:def:0123456789")["k"] == b"abc:def:0123456789"


def test_minimum_secret_length_counts_bytes() -> None:
    assert KeyRing.parse("k:" + "x" * 16)["k"] == b"x" * 16
    # Eight two-byte characters are sixteen bytes.
    assert len(KeyRing.parse("k:" + "é" * 8)["k"]) == 16
    with pytest.raises(KeyRingError, match="at least 16 bytes"):
        KeyRing.parse("k:" + "x" * 15)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "at least one"),
        (" , ,", "at least one"),
        ("no-separator-0123456789", "must look like 'key_id:secret'"),
        (":0123456789abcdef0123", "must look like 'key_id:secret'"),
        ("k:", "must look like 'key_id:secret'"),
        (f"a:{OLD},broken", "key #2"),
        ("k:short", "at least 16 bytes"),
        (f"k:{OLD},k:{NEW}", "appears twice"),
    ],
)
def test_parse_errors(spec: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message):
        KeyRing.parse(spec)


@pytest.mark.parametrize(
    "spec",
    [f"k:{OLD},k:{NEW}", "k:short-secret", f"good:{OLD},bad:tiny"],
)
def test_parse_errors_do_not_show_secrets(spec: str) -> None:
    with pytest.raises(KeyRingError) as caught:
        KeyRing.parse(spec)
    for secret in (OLD, NEW, "short-secret", "tiny"):
        assert secret not in str(caught.value)


def test_key_ring_error_is_a_value_error() -> None:
    assert issubclass(KeyRingError, ValueError)


def test_repr_never_shows_a_secret() -> None:
    ring = KeyRing.parse(f"new:{NEW},old:{OLD}")
    for shown in (repr(ring), str(ring), f"{ring!r}", f"{ring}", repr([ring]), repr({"k": ring})):
        assert NEW not in shown
        assert OLD not in shown
        assert repr(NEW.encode()) not in shown
        assert NEW.encode().hex() not in shown
    assert "new" in repr(ring)
    assert "old" in repr(ring)


def test_rotation_old_token_verifies_while_the_old_key_is_listed() -> None:
    old_ring = KeyRing.parse(f"old:{OLD}")
    rotated = KeyRing.parse(f"new:{NEW},old:{OLD}")
    old_token = _sign(old_ring)

    assert _verify(old_ring, old_token) == "old"
    # Step 1/2: every verifier lists both keys; the signer moves to the new key.
    assert _verify(rotated, old_token) == "old"
    new_token = _sign(rotated)
    assert _verify(rotated, new_token) == "new"
    # A verifier that added the new key at the end also takes new tokens.
    assert _verify(KeyRing.parse(f"old:{OLD},new:{NEW}"), new_token) == "new"

    # Step 3: "old" is dropped; its tokens are refused, the new ones still pass.
    dropped = KeyRing.parse(f"new:{NEW}")
    with pytest.raises(TokenError) as caught:
        _verify(dropped, old_token)
    assert caught.value.reason is TokenRejection.UNKNOWN_KEY
    assert _verify(dropped, new_token) == "new"


def test_same_key_id_with_another_secret_is_a_bad_signature() -> None:
    token = _sign(KeyRing.parse(f"old:{OLD}"))
    with pytest.raises(TokenError) as caught:
        _verify(KeyRing.parse(f"old:{NEW}"), token)
    assert caught.value.reason is TokenRejection.BAD_SIGNATURE


def _key_file(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "callback-keys"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_key_file_only_its_owner_reads_is_the_key_ring(tmp_path: Path, mode: int) -> None:
    path = _key_file(tmp_path, f"new:{NEW}\nold:{OLD}\n", mode)
    ring = KeyRing.from_file(path)
    assert list(ring) == ["new", "old"]
    assert ring.signing_key_id == "new"
    assert KeyRing.from_file(_key_file(tmp_path, f"new:{NEW},old:{OLD}", 0o600)) == ring


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o660, 0o606, 0o610, 0o666])
def test_a_key_file_its_group_or_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = _key_file(tmp_path, f"old:{OLD}", mode)
    with pytest.raises(KeyRingError) as caught:
        KeyRing.from_file(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"{mode:04o}" in message
    assert OLD not in message


def test_a_key_file_is_checked_through_a_symlink(tmp_path: Path) -> None:
    # A mounted Kubernetes Secret is a symlink to the real file: its target's mode counts.
    target = _key_file(tmp_path, f"old:{OLD}", 0o644)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(KeyRingError, match="0644"):
        KeyRing.from_file(link)


def test_a_missing_or_bad_key_file_names_the_path_and_never_the_secret(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="cannot be read"):
        KeyRing.from_file(tmp_path / "absent")
    with pytest.raises(KeyRingError, match="not a regular file"):
        KeyRing.from_file(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyRingError, match="not a regular file"):
        KeyRing.from_file(fifo)
    short = _key_file(tmp_path, "old:short", 0o600)
    with pytest.raises(KeyRingError) as caught:
        KeyRing.from_file(short)
    assert str(short) in str(caught.value)
    assert "at least 16 bytes" in str(caught.value)
    assert "short" not in str(caught.value).replace(str(short), "")


def test_a_key_file_that_cannot_be_opened_is_refused_naming_it(tmp_path: Path) -> None:
    # A mounted Secret that went away leaves a dangling symlink; a path through a file is
    # a typo in a mount path. (A mode that forbids reading cannot be shown here: CI runs
    # as root, which reads any file whatever its mode.)
    dangling = tmp_path / "gone"
    dangling.symlink_to(tmp_path / "..data" / "callback-keys")
    through_a_file = _key_file(tmp_path, f"old:{OLD}", 0o600) / "callback-keys"
    for path in (dangling, through_a_file):
        with pytest.raises(KeyRingError, match="cannot be read") as caught:
            KeyRing.from_file(path)
        assert str(path) in str(caught.value)


def test_a_service_takes_its_keys_inline_or_from_a_file_but_not_both(tmp_path: Path) -> None:
    path = _key_file(tmp_path, f"new:{NEW}", 0o600)
    assert list(load_key_ring(keys="", keys_file=path)) == ["new"]
    assert list(load_key_ring(keys=f"old:{OLD}", keys_file=None)) == ["old"]
    with pytest.raises(KeyRingError, match="CALLBACK_KEYS or CALLBACK_KEYS_FILE, not both"):
        load_key_ring(keys=f"old:{OLD}", keys_file=path)
    with pytest.raises(KeyRingError, match="required: set CALLBACK_KEYS_FILE"):
        load_key_ring(keys="", keys_file=None)
