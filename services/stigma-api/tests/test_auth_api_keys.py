"""Static API keys: entries parse with errors naming the place, keys match only exactly,
and digests can stand in for keys."""

from __future__ import annotations

import pytest

from stigma_api.auth import ApiKeys, EntryError, Mechanism, Principal, digest_entry

KEY = "k3y-0123456789abcdef"
OTHER = "other-0123456789abcdef"


def test_a_key_maps_to_its_principal() -> None:
    keys = ApiKeys.parse(f"zigflow-worker:default::{KEY},ops:default:operator:{OTHER}", source="V")
    assert keys.lookup(KEY) == Principal(
        "zigflow-worker", "default", frozenset(), Mechanism.API_KEY
    )
    ops = keys.lookup(OTHER)
    assert ops is not None
    assert ops.operator
    assert ops.may_act_on("any-tenant")


@pytest.mark.parametrize(
    "presented", ["", KEY[:-1], KEY + "x", KEY.upper(), " " + KEY, "x" * 10_000]
)
def test_anything_but_the_exact_key_is_unknown(presented: str) -> None:
    assert ApiKeys.parse(f"a:t::{KEY}", source="V").lookup(presented) is None


def test_a_digest_stands_in_for_the_key() -> None:
    keys = ApiKeys.parse(digest_entry("svc", "acme", "", KEY), source="V")
    principal = keys.lookup(KEY)
    assert principal is not None
    assert principal.tenant == "acme"
    assert KEY not in digest_entry("svc", "acme", "", KEY)


def test_a_file_has_comments_and_lines_and_errors_name_the_line() -> None:
    text = f"# who:tenant:roles:key\nsvc:acme::{KEY}\n\nbad-entry\n"
    with pytest.raises(EntryError, match=r"^keys\.txt:4: an entry is name:tenant:roles:key"):
        ApiKeys.parse(text, source="keys.txt", from_file=True)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (f"svc:ac me::{KEY}", "tenant 'ac me' must be"),
        (f"svc:acme:admin:{KEY}", "unknown role(s) admin of 'svc'; known: operator"),
        ("svc:acme::short", "the key of 'svc' must be 16 to 512 characters"),
        (f":acme::{KEY}", "principal name '' is not a name"),
    ],
)
def test_bad_entries_are_refused_naming_the_problem_never_the_key(entry: str, problem: str) -> None:
    with pytest.raises(EntryError) as caught:
        ApiKeys.parse(entry, source="STIGMA_API_API_KEYS")
    message = str(caught.value)
    assert message.startswith("STIGMA_API_API_KEYS entry 1: ")
    assert problem in message
    assert KEY not in message
    assert "short" not in message.replace("shorter", "")


def test_the_same_key_twice_is_refused() -> None:
    with pytest.raises(EntryError, match="configured twice"):
        ApiKeys.parse(f"a:t::{KEY},b:u::{KEY}", source="V")
