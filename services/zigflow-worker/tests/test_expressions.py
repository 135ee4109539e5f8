"""jq runtime expressions: evaluation with DSL variables, rendering, truth, errors."""

from __future__ import annotations

from typing import Any

import pytest

from zigflow.dsl import expressions
from zigflow.dsl.expressions import ExpressionError, check, evaluate, is_expression, render, truthy

DATA = {"topic": "durable workflows", "numbers": [3, 1, 2], "nested": {"deep": True}}
VARIABLES: dict[str, Any] = {
    "input": {"topic": "from input", "requester": "newcomer"},
    "context": {"agent": "agent-req-1"},
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${ .a }", True),
        ("${.a}", True),
        ("  ${ .a }  ", True),
        ("${ {a: 1} }", True),
        ("$ { .a }", False),
        ("${ .a", False),
        (".a", False),
        ("plain text", False),
        ("", False),
        (42, False),
        (None, False),
        ({"a": "${ .a }"}, False),
    ],
)
def test_is_expression(value: Any, expected: bool) -> None:
    assert is_expression(value) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("${ .topic }", "durable workflows"),
        (".topic", "durable workflows"),
        ("${ .nested.deep }", True),
        ("${ .missing }", None),
        ("${ .numbers | sort }", [1, 2, 3]),
        ("${ .numbers | length }", 3),
        ('${ "Why " + .topic + "?" }', "Why durable workflows?"),
        ('${ .question // "default" }', "default"),
        ("${ {t: .topic, n: (.numbers | add)} }", {"t": "durable workflows", "n": 6}),
        # Several results: the first one is the value.
        ("${ .numbers[] }", 3),
        # No result at all: null.
        ("${ empty }", None),
    ],
)
def test_evaluate_against_the_data(expression: str, expected: Any) -> None:
    assert evaluate(expression, DATA, VARIABLES) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("${ $input.topic }", "from input"),
        ("${ $context.agent }", "agent-req-1"),
        ("${ $context + {more: .topic} }", {"agent": "agent-req-1", "more": "durable workflows"}),
        (
            '${ "\\($input.requester) asks about \\(.topic)" }',
            "newcomer asks about durable workflows",
        ),
        # Variables that are not bound are null, not an error.
        ("${ $secrets }", None),
        ("${ $task }", None),
        ("${ $workflow.id }", None),
    ],
)
def test_evaluate_with_variables(expression: str, expected: Any) -> None:
    assert evaluate(expression, DATA, VARIABLES) == expected


def test_variables_change_between_evaluations_of_one_program() -> None:
    assert evaluate("${ $context.n }", None, {"context": {"n": 1}}) == 1
    assert evaluate("${ $context.n }", None, {"context": {"n": 2}}) == 2


def test_data_keys_named_like_variables_do_not_leak_into_them() -> None:
    assert evaluate("${ $input }", {"vars": {"input": "spoofed"}}, {"input": "real"}) == "real"
    assert evaluate("${ .vars.input }", {"vars": {"input": "data"}}, {"input": "real"}) == "data"


def test_render_evaluates_nested_expressions_and_keeps_the_rest() -> None:
    template = {
        "topic": "${ .topic }",
        "literal": "just text",
        "number": 7,
        "flag": False,
        "none": None,
        "list": ["${ .numbers | max }", "text", {"agent": "${ $context.agent }"}],
        "nested": {"who": "${ $input.requester }", "deeper": {"ok": "${ .nested.deep }"}},
    }
    assert render(template, DATA, VARIABLES) == {
        "topic": "durable workflows",
        "literal": "just text",
        "number": 7,
        "flag": False,
        "none": None,
        "list": [3, "text", {"agent": "agent-req-1"}],
        "nested": {"who": "newcomer", "deeper": {"ok": True}},
    }


def test_render_of_a_bare_expression_and_of_a_scalar() -> None:
    assert render("${ .numbers }", DATA, VARIABLES) == [3, 1, 2]
    assert render("no expression", DATA, VARIABLES) == "no expression"
    assert render(3.5, DATA, VARIABLES) == 3.5


def test_render_does_not_change_its_input() -> None:
    template = {"a": ["${ .topic }"]}
    render(template, DATA, VARIABLES)
    assert template == {"a": ["${ .topic }"]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        (True, True),
        (0, True),
        (0.0, True),
        ("", True),
        ("false", True),
        ([], True),
        ({}, True),
    ],
)
def test_truthy_is_jq_truth(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


@pytest.mark.parametrize("expression", ["${ .a | }", "${ .[ }", "${ $undefined_var }", "${ foo( }"])
def test_compile_errors(expression: str) -> None:
    with pytest.raises(ExpressionError, match="jq does not compile"):
        check(expression)
    with pytest.raises(ExpressionError, match="jq does not compile"):
        evaluate(expression, DATA, VARIABLES)


def test_check_accepts_good_programs() -> None:
    check("${ .a + $input.b }")
    check(".plain | length")


@pytest.mark.parametrize(
    "expression",
    ['${ error("boom") }', "${ .topic + 1 }", "${ .numbers.key }", "${ .topic | tonumber }"],
)
def test_runtime_errors(expression: str) -> None:
    with pytest.raises(ExpressionError, match="jq failed on"):
        evaluate(expression, DATA, VARIABLES)


def test_expression_error_is_a_value_error() -> None:
    assert issubclass(ExpressionError, ValueError)


def test_to_json_is_stable() -> None:
    assert expressions.to_json({"b": 1, "a": [2]}) == '{"a": [2], "b": 1}'
