"""Client credentials: one at a time, read from files (re-read for rotation), errors that
name the setting and never the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

import stigma_wire._auth as auth
from stigma_wire import CallerCredentials, CredentialsError, credential_metadata


def test_nothing_set_sends_nothing() -> None:
    assert not CallerCredentials().on
    assert credential_metadata(CallerCredentials()) == ()


def test_an_api_key_and_a_jwt_go_in_their_headers(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("e30.e30.sig\n")
    assert credential_metadata(CallerCredentials(api_key="k" * 20)) == (("x-api-key", "k" * 20),)
    assert credential_metadata(CallerCredentials(jwt_file=str(token))) == (
        ("authorization", "Bearer e30.e30.sig"),
    )


def test_two_credentials_are_refused_naming_both(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as caught:
        CallerCredentials(api_key="secret-value", jwt_file="/x", names="ZIGFLOW_STIGMA_").check()
    assert str(caught.value) == (
        "ZIGFLOW_STIGMA_API_KEY and ZIGFLOW_STIGMA_JWT_FILE: set only one credential"
    )
    assert "secret-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "problem"), [(None, "cannot read"), ("", "must hold one value")]
)
def test_an_unusable_file_is_named(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "key"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CredentialsError, match=f"^STIGMACTL_STIGMA_API_KEY_FILE: .*{problem}"):
        CallerCredentials(api_key_file=str(path), names="STIGMACTL_STIGMA_").check()


async def test_a_rotated_file_is_picked_up_and_a_vanished_one_keeps_the_last_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token"
    path.write_text("first")
    secret = auth._Secret(CallerCredentials(jwt_file=str(path)))
    monkeypatch.setattr(auth, "REREAD_AFTER_S", 0.0)
    assert await secret.current() == "Bearer first"
    path.write_text("second")
    assert await secret.current() == "Bearer second"
    path.unlink()
    assert await secret.current() == "Bearer second"
