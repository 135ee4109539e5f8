"""Validation errors from a file name its line as well as the JSON path."""

from __future__ import annotations

from pathlib import Path

import pytest

from zigflow.dsl import DefinitionError, load_document
from zigflow.dsl.lines import line_of

HEADER = 'document:\n  dsl: "1.0.0"\n  namespace: t\n  name: bad\n  version: "1"\ndo:\n'


def refuse(tmp_path: Path, body: str) -> DefinitionError:
    path = tmp_path / "bad.yaml"
    path.write_text(HEADER + body)
    with pytest.raises(DefinitionError) as caught:
        load_document(path)
    return caught.value


def test_a_bad_then_points_at_its_line(tmp_path: Path) -> None:
    body = "  - first:\n      set: { a: 1 }\n  - jump:\n      set: { b: 2 }\n      then: nowhere\n"
    error = refuse(tmp_path, body)
    assert (error.path, error.line) == ("$.do[1].jump.then", 11)
    assert str(error).startswith(f"{tmp_path / 'bad.yaml'}:11: $.do[1].jump.then: ")


def test_a_missing_key_points_at_its_parent(tmp_path: Path) -> None:
    error = refuse(tmp_path, "  - ask:\n      call: agent\n      with:\n        input: hi\n")
    assert (error.path, error.line) == ("$.do[0].ask.with.model", 10)


def test_line_of_handles_unparsable_text_and_the_root() -> None:
    assert line_of("a: [", "$.a") is None
    assert line_of("a: 1\n", "$") == 1
    assert line_of("a:\n  - x\n  - y\n", "$.a[1]") == 3
