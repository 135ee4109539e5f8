"""The builtins that reach outside an expression's data are refused when a document loads,
naming the expression's path and the name; the same spellings as data are not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zigflow.cli import main
from zigflow.dsl import DefinitionError, load_document
from zigflow.dsl.document import parse_document
from zigflow.dsl.jq_names import FORBIDDEN_FUNCTIONS, FORBIDDEN_VARIABLES, Name, code_names


def document(*tasks: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "document": {"dsl": "1.0.0", "namespace": "unit", "name": "doc", "version": "1.0.0"},
        "do": list(tasks) or [{"noop": {"set": {}}}],
        **top,
    }


def refusal(data: dict[str, Any]) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        parse_document(data, source="hostile.yaml")
    return caught.value


# Each forbidden name, called the way a document could (all of them compile).
CALLS = {
    "$ENV": "${ $ENV.CALLBACK_KEYS }",
    "env": "${ env.CALLBACK_KEYS }",
    "input": "${ input }",
    "inputs": "${ [inputs] }",
    "debug": "${ .a | debug }",
    "stderr": "${ stderr }",
    "input_filename": "${ input_filename }",
    "$__loc__": "${ $__loc__ }",
    "halt": "${ halt }",
    "halt_error": '${ "bye" | halt_error(1) }',
    "modulemeta": '${ "m" | modulemeta }',
    "get_search_list": "${ get_search_list }",
    "get_jq_origin": "${ get_jq_origin }",
    "get_prog_origin": "${ get_prog_origin }",
}


def test_every_forbidden_name_has_a_case() -> None:
    names = {*FORBIDDEN_FUNCTIONS, *(f"${name}" for name in FORBIDDEN_VARIABLES)}
    assert set(CALLS) == names


@pytest.mark.parametrize(("name", "expression"), sorted(CALLS.items()))
def test_each_name_is_refused_with_the_path_of_its_expression(name: str, expression: str) -> None:
    error = refusal(document({"leak": {"set": {"out": expression}}}))
    assert error.path == "$.do[0].leak.set.out"
    assert f"{name!r} is not allowed in an expression" in error.problem
    assert str(error).startswith("hostile.yaml: $.do[0].leak.set.out: ")


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (document(output={"as": "${ $ENV }"}), "$.output.as"),
        (document(input={"from": "${ {e: env} }"}), "$.input.from"),
        (document({"t": {"if": "${ env | length > 0 }", "set": {}}}), "$.do[0].t.if"),
        (
            document({"t": {"set": {}, "export": {"as": '${ "\\(env)" }'}}}),
            "$.do[0].t.export.as",
        ),
        (
            document({"t": {"call": "f"}}, use={"functions": {"f": {"set": "${ $__loc__ }"}}}),
            "$.use.functions.f.set",
        ),
        (
            document(
                {"t": {"wait": {"seconds": 1}}},
                evaluate={"language": "jq", "mode": "loose"},
                output={"as": "$ENV"},
            ),
            "$.output.as",
        ),
        (
            document({"t": {"call": "http", "with": {"method": "get", "endpoint": "${ env.U }"}}}),
            "$.do[0].t.with.endpoint",
        ),
    ],
)
def test_every_expression_of_the_document_is_read(data: dict[str, Any], path: str) -> None:
    assert refusal(data).path == path


@pytest.mark.parametrize(
    "expression",
    [
        '${ "env" }',  # a string literal
        '${ "$ENV, input, halt and debug are just words" }',
        '${ "\\\\(env)" }',  # an escaped backslash, then text: no interpolation
        "${ .env }",  # field access
        '${ ."env" }',
        '${ .["env"] }',
        "${ .a.input.halt }",
        "${ {env: 1} }",  # an object key
        "${ {env} }",  # {env: .env}
        '${ {a: 1, env, "input": 2} }',
        "${ . as {env: $e} | $e }",  # a destructuring key
        "${ . as $env_x | $env_x }",  # other variables
        "${ . as $env | $env }",
        "${ . as $ENV_COPY | $ENV_COPY }",
        "${ .environment // .inputs_count // .halted }",  # longer names
        "${ # env in a comment\n . }",
        "${ @base64 }",
    ],
)
def test_data_spelled_like_a_forbidden_name_is_not_refused(expression: str) -> None:
    parse_document(document({"ok": {"set": {"out": expression}}}), source="fine.yaml")


@pytest.mark.parametrize(
    "expression",
    [
        '${ "text \\(env.X) text" }',  # code inside a string interpolation
        '${ "a \\("b \\(.x | input)")" }',  # nested interpolations
        "${ {a: env} }",  # an object value, not a key
        "${ {(env | keys[0]): 1} }",
        "${ {a: 1 | env} }",
        "${ [env] }",
        "${ .[env:] }",
        "${ def env: {}; env }",  # a definition of one's own is refused too
        "${ {$ENV} }",
        "${ # a comment ends at the newline\n env }",
    ],
)
def test_code_that_reaches_a_forbidden_name_is_refused(expression: str) -> None:
    assert (
        "is not allowed in an expression"
        in refusal(document({"leak": {"set": {"out": expression}}})).problem
    )


def test_a_backslash_continues_a_comment_over_the_newline() -> None:
    # As jq 1.7.1's lexer reads it: `env` is still part of the comment.
    assert code_names("# a comment \\\n env") == []
    assert code_names("# a comment \\\\\n env") == [Name("function", "env")]


def test_names_are_read_in_order_with_their_kind() -> None:
    assert code_names('$x | map(f(.y)) | "\\(g)" | .z | {k: h}') == [
        Name("variable", "x"),
        Name("function", "map"),
        Name("function", "f"),
        Name("function", "g"),
        Name("function", "h"),
    ]


def test_validate_and_load_refuse_a_file_naming_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "leak.yaml"
    path.write_text(
        "document: {dsl: 1.0.0, namespace: unit, name: leak, version: 1.0.0}\n"
        "do:\n"
        "  - leak:\n"
        "      set:\n"
        "        keys: ${ $ENV }\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_document(path)
    assert caught.value.line == 5
    assert caught.value.path == "$.do[0].leak.set.keys"
    assert main(["validate", str(path)]) == 1
    assert "$.do[0].leak.set.keys: '$ENV' is not allowed" in capsys.readouterr().err
