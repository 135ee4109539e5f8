"""Hostile YAML: a bomb, deep nesting or a huge file is refused fast, naming file and limit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from zigflow.cli import main as zigflow_cli
from zigflow.definition_settings import DefinitionSettings
from zigflow.dsl import DefinitionError, load_directory, load_document
from zigflow.dsl.lines import line_of
from zigflow.dsl.yaml_source import YamlLimitError, YamlLimits, compose, load

# The classic "billion laughs", in a valid document: 9 levels of 9 aliases, 9^9 strings once
# expanded. Without limits, the load-time checks walk all of them (the loader hung).
BOMB = "".join(
    [
        'document: {dsl: "1.0.0", namespace: tests, name: bomb, version: "1.0.0"}\n',
        "do:\n  - boom:\n      set:\n",
        '        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
        *(
            f"        {name}: &{name} [{','.join([f'*{prev}'] * 9)}]\n"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)

VALID = """\
document: {dsl: "1.0.0", namespace: tests, name: fine, version: "1.0.0"}
do:
  - greet:
      set: {hello: world}
"""


def test_a_bomb_of_a_few_hundred_bytes_is_refused_by_the_loader_in_milliseconds() -> None:
    assert len(BOMB) < 700
    started = time.monotonic()
    with pytest.raises(YamlLimitError, match="ZIGFLOW_YAML_MAX_ALIAS_NODES"):
        load(BOMB, YamlLimits())
    assert time.monotonic() - started < 0.5


def test_line_numbers_are_composed_under_the_same_limits() -> None:
    started = time.monotonic()
    with pytest.raises(YamlLimitError):
        compose(BOMB, YamlLimits())
    assert line_of(BOMB, "$.do[0].boom.set.i") is None
    assert time.monotonic() - started < 0.5


def test_aliases_within_the_budget_still_load() -> None:
    text = "base: &base {retries: 3, delay: PT1S}\nfirst: *base\nsecond: *base\n"
    assert load(text, YamlLimits(max_alias_nodes=20))["second"] == {"retries": 3, "delay": "PT1S"}
    with pytest.raises(YamlLimitError, match="more than 6 nodes"):
        load(text, YamlLimits(max_alias_nodes=6))


def test_deep_nesting_is_refused_at_the_limit() -> None:
    assert load("[" * 10 + "]" * 10, YamlLimits(max_depth=10)) == [[[[[[[[[[]]]]]]]]]]
    with pytest.raises(YamlLimitError, match=r"deeper than 10 levels \(ZIGFLOW_YAML_MAX_DEPTH\)"):
        load("[" * 11 + "]" * 11, YamlLimits(max_depth=10))
    # Far deeper than Python's recursion limit: refused, not a RecursionError.
    with pytest.raises(YamlLimitError):
        load("[" * 100_000 + "]" * 100_000, YamlLimits())


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(YamlLimitError, match="recursive alias"):
        load("a: &a [1, *a]\n", YamlLimits())


def test_a_file_past_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(VALID + "#" * 2000 + "\n")
    with pytest.raises(
        DefinitionError, match=r"big\.yaml: \$: is \d+ bytes.*ZIGFLOW_YAML_MAX_BYTES"
    ):
        load_document(path, limits=YamlLimits(max_bytes=1000))
    assert load_document(path).name == "fine"


def test_the_worker_folder_skips_the_bomb_and_loads_the_rest(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BOMB)
    (tmp_path / "fine.yaml").write_text(VALID)
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "folder.yaml").mkdir()
    documents, errors = load_directory(tmp_path, limits=YamlLimits())
    assert [document.name for document in documents] == ["fine"]
    problems = {Path(error.source).name: error.problem for error in errors}
    assert "ZIGFLOW_YAML_MAX_ALIAS_NODES" in problems["bomb.yaml"]
    assert "not UTF-8" in problems["binary.yaml"]
    assert "cannot be read" in problems["folder.yaml"]


def test_zigflow_validate_refuses_the_bomb_in_under_a_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    started = time.monotonic()
    assert zigflow_cli(["validate", str(path)]) == 1
    assert time.monotonic() - started < 1.0
    err = capsys.readouterr().err
    assert str(path) in err
    assert "ZIGFLOW_YAML_MAX_ALIAS_NODES" in err


def test_zigflow_run_refuses_the_bomb_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An address nothing listens on: the file must be refused before any connection.
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    started = time.monotonic()
    assert zigflow_cli(["run", str(path), "--json"]) == 1
    assert time.monotonic() - started < 1.0
    out = capsys.readouterr().out
    assert '"title": "Invalid definition"' in out
    assert "ZIGFLOW_YAML_MAX_ALIAS_NODES" in out


def test_the_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DefinitionSettings().yaml_limits == YamlLimits()
    monkeypatch.setenv("ZIGFLOW_YAML_MAX_BYTES", "2048")
    monkeypatch.setenv("ZIGFLOW_YAML_MAX_DEPTH", "8")
    monkeypatch.setenv("ZIGFLOW_YAML_MAX_ALIAS_NODES", "0")
    assert DefinitionSettings().yaml_limits == YamlLimits(
        max_bytes=2048, max_depth=8, max_alias_nodes=0
    )


def test_a_bad_limit_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZIGFLOW_YAML_MAX_DEPTH", "0")
    path = tmp_path / "fine.yaml"
    path.write_text(VALID)
    assert zigflow_cli(["validate", str(path)]) == 2
    assert "ZIGFLOW_YAML_MAX_DEPTH" in capsys.readouterr().err


def test_the_depth_limit_holds_through_aliases() -> None:
    # Each anchor nests the previous one 50 levels deeper: within the limit as written,
    # 1000 levels once the aliases are followed (the load-time checks would recurse that far).
    lines = ["root:"]
    for k in range(20):
        inner = f"*a{k - 1}" if k else "1"
        lines.append(f"  a{k}: &a{k} {'[' * 50}{inner}{']' * 50}")
    text = "\n".join(lines) + "\n"
    with pytest.raises(YamlLimitError, match=r"alias \*a0 nests deeper than 64 levels"):
        load(text, YamlLimits())


def test_a_shape_the_checks_did_not_foresee_is_refused_not_raised(tmp_path: Path) -> None:
    (tmp_path / "fine.yaml").write_text(VALID)
    (tmp_path / "odd.yaml").write_text(VALID + "timeout: soon\n")
    documents, errors = load_directory(tmp_path, limits=YamlLimits())
    assert [document.name for document in documents] == ["fine"]
    (error,) = errors
    assert (Path(error.source).name, error.path) == ("odd.yaml", "$.timeout")
