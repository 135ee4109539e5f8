"""Engine semantics that were once wrong (issue 12, item 6), each pinned: $task in task
bodies, empty URI-template variables, unwrapped strict-mode conditions, jq errors in the
user's terms, run.shell."""

from __future__ import annotations

from typing import Any

import pytest

from zigflow.dsl import DefinitionError, expressions
from zigflow.dsl.document import parse_document
from zigflow.dsl.tasks.call_task import expand_uri
from zigflow.testing import DocumentRunner


def document(*tasks: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "document": {"dsl": "1.0.0", "namespace": "unit", "name": "doc", "version": "1.0.0"},
        "do": list(tasks),
        **top,
    }


def refuse(data: dict[str, Any]) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        parse_document(data, source="unit.yaml")
    return caught.value


# $task ---------------------------------------------------------------------------------


async def test_task_describes_the_current_task_in_set_and_nested_bodies(
    runner: DocumentRunner,
) -> None:
    data = document(
        {"first": {"set": {"name": "${ $task.name }", "ref": "${ $task.reference }"}}},
        {
            "outer": {
                "do": [{"inner": {"set": "${ . + {inner: $task.name, in: $task.input.name} }"}}]
            }
        },
    )
    output = await runner.run(data, {})
    assert output == {
        "name": "first",
        "ref": "/do/0/first",
        "inner": "inner",
        "in": "first",
    }


# URI templates --------------------------------------------------------------------------


def test_a_missing_uri_template_variable_expands_to_nothing() -> None:
    uri = "http://api.test/items/{id}/notes/{missing}?q={none}"
    assert expand_uri(uri, {"id": 7, "none": None}) == "http://api.test/items/7/notes/?q="
    assert expand_uri(uri, "not a map") == "http://api.test/items//notes/?q="


@pytest.mark.parametrize(
    ("template", "expanded"),
    [
        ("http://h/items/{id}", "http://h/items/a%2Fb%3Fc"),  # cannot add a segment or query
        ("http://h/files/{+path}", "http://h/files/a/b?c"),  # reserved expansion keeps them
        ("http://h/search{?q,page,absent}", "http://h/search?q=red%20lamp&page=2"),
        ("http://h{/parts*}", "http://h/x/y"),
        ("http://h/items/{id}?flag={flag}", "http://h/items/a%2Fb%3Fc?flag=true"),
        ("http://h/items?{&absent}", "http://h/items?"),
    ],
)
def test_uri_templates_expand_as_rfc_6570_says(template: str, expanded: str) -> None:
    fields = {
        "id": "a/b?c",
        "path": "a/b?c",
        "q": "red lamp",
        "page": 2,
        "parts": ["x", "y"],
        "flag": True,
    }
    assert expand_uri(template, fields) == expanded


# Strict mode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "path"),
    [
        ({"t": {"if": ".flag", "set": {}}}, "$.do[0].t.if"),
        (
            {"t": {"switch": [{"yes": {"when": ".ok", "then": "end"}}, {"no": {}}]}},
            "$.do[0].t.switch[0].yes.when",
        ),
        (
            {"t": {"try": [{"x": {"set": {}}}], "catch": {"when": ".retry"}}},
            "$.do[0].t.catch.when",
        ),
        (
            {"t": {"try": [{"x": {"set": {}}}], "catch": {"exceptWhen": ".a"}}},
            "$.do[0].t.catch.exceptWhen",
        ),
        (
            {"t": {"for": {"in": "${ .xs }"}, "while": ".go", "do": [{"x": {"set": {}}}]}},
            "$.do[0].t.while",
        ),
        ({"t": {"do": [{"x": {"if": "true", "set": {}}}]}}, "$.do[0].t.do[0].x.if"),
    ],
)
def test_strict_mode_refuses_an_unwrapped_condition(task: dict[str, Any], path: str) -> None:
    error = refuse(document(task))
    assert error.path == path
    assert "${ " in error.problem
    assert "evaluate.mode: loose" in error.problem


def test_a_refused_condition_cites_the_spec_rule_it_breaks() -> None:
    error = refuse(document({"ship": {"if": ".flag", "set": {}}}))
    assert (error.path, error.problem) == (
        "$.do[0].ship.if",
        "'.flag' is a plain string, which strict mode reads as literal text (always true): "
        "Serverless Workflow 1.0 says that in strict mode runtime expressions must be "
        "enclosed in ${ }; write it as '${ .flag }', or set evaluate.mode: loose",
    )


def test_the_same_conditions_are_expressions_in_loose_mode_and_wrapped_ones_in_strict() -> None:
    tasks = [{"t": {"if": ".flag", "set": {}}}]
    loose = parse_document(document(*tasks, evaluate={"mode": "loose"}), source="unit.yaml")
    assert loose.tasks[0].condition == "${ .flag }"
    parse_document(document({"t": {"if": "${ .flag }", "set": {}}}), source="unit.yaml")


# jq errors ------------------------------------------------------------------------------


def test_a_jq_compile_error_shows_only_the_users_expression_and_its_column() -> None:
    with pytest.raises(expressions.ExpressionError) as caught:
        expressions.check("${ .a | foo(1) }")
    message = str(caught.value)
    assert ".vars" not in message
    assert "$input" not in message
    assert message == "jq does not compile '.a | foo(1)': foo/1 is not defined at line 1, column 6"


def test_a_jq_error_at_the_end_of_the_expression_says_so() -> None:
    with pytest.raises(expressions.ExpressionError) as caught:
        expressions.check("${ .a | }")
    assert str(caught.value) == (
        "jq does not compile '.a |': syntax error, unexpected end at the end of the expression"
    )


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        # The wrapper's closing ")" met an unclosed "[" or "{": jq called it INVALID_CHARACTER.
        ("${ .a[ }", "syntax error, unexpected end at the end of the expression"),
        ("${ {a: 1 }", "syntax error, unexpected end, expecting '}' at the end of the expression"),
        # A stray ")" or "]" closed the wrapper's "(" and was reported at the end.
        (
            "${ .a) }",
            "syntax error, unexpected INVALID_CHARACTER, expecting end of file at line 1, column 3",
        ),
        (
            "${ .a ] | .b }",
            "syntax error, unexpected INVALID_CHARACTER, expecting end of file at line 1, column 4",
        ),
    ],
)
def test_a_jq_syntax_error_is_about_the_users_characters_only(
    expression: str, problem: str
) -> None:
    with pytest.raises(expressions.ExpressionError) as caught:
        expressions.check(expression)
    assert str(caught.value).split("': ", 1)[1] == problem


def test_an_expression_may_end_with_a_jq_comment() -> None:
    data = document({"t": {"set": {"total": "${ .a + 1 # one more than a }"}}})
    parse_document(data, source="unit.yaml")
    assert expressions.evaluate("${ .a + 1 # one more than a }", {"a": 1}, {}) == 2
    assert expressions.evaluate("${ .a # a\n }", {"a": 3}, {}) == 3


def test_a_document_with_bad_jq_names_the_path_and_the_expression_only() -> None:
    error = refuse(document({"t": {"set": {"x": "${ .a | nope }"}}}))
    assert error.path == "$.do[0].t.set.x"
    assert (
        error.problem
        == "jq does not compile '.a | nope': nope/0 is not defined at line 1, column 6"
    )


# run.shell ------------------------------------------------------------------------------


def test_run_shell_is_refused_under_its_own_path() -> None:
    error = refuse(document({"r": {"run": {"shell": {"command": "ls"}}}}))
    assert error.path == "$.do[0].r.run.shell"
    assert "run: shell is not supported" in error.problem
