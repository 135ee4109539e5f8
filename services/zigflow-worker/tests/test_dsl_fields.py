"""Unknown keys are refused at load (issue 12): a misspelt ``then`` or ``output.as`` was
ignored, so the document ran otherwise than it read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zigflow.cli import main as zigflow_cli
from zigflow.dsl import DefinitionError, load_document
from zigflow.dsl.document import parse_document


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


@pytest.mark.parametrize(
    ("data", "path", "problem"),
    [
        (
            document({"t": {"set": {}, "thne": "end"}}),
            "$.do[0].t.thne",
            "'thne' is not a field of a set task "
            "(known: export, if, input, metadata, output, set, then, timeout)",
        ),
        (
            document({"t": {"set": {}, "output": {"ass": "${ . }"}}}),
            "$.do[0].t.output.ass",
            "'ass' is not a field of output (known: as, schema)",
        ),
        (
            document({"t": {"set": {}, "input": {"form": "${ . }"}}}),
            "$.do[0].t.input.form",
            "'form' is not a field of input (known: from, schema)",
        ),
        (
            document({"t": {"wait": "PT1S", "timeout": {"afterr": "PT2S"}}}),
            "$.do[0].t.timeout.afterr",
            "'afterr' is not a field of timeout (known: after)",
        ),
        (
            document({"t": {"set": {}, "while": "${ true }"}}),
            "$.do[0].t.while",
            "'while' is not a field of a set task "
            "(known: export, if, input, metadata, output, set, then, timeout)",
        ),
        (
            document({"t": {"do": [{"x": {"set": {}, "expot": {"as": "${ . }"}}}]}}),
            "$.do[0].t.do[0].x.expot",
            "'expot' is not a field of a set task "
            "(known: export, if, input, metadata, output, set, then, timeout)",
        ),
        (
            document({"t": {"call": "f"}}, use={"functions": {"f": {"set": {}, "thne": "end"}}}),
            "$.use.functions.f.thne",
            "'thne' is not a field of a set task "
            "(known: export, if, input, metadata, output, set, then, timeout)",
        ),
        (
            document({"t": {"set": {}}}, ouput={"as": "${ . }"}),
            "$.ouput",
            "'ouput' is not a field of a document "
            "(known: do, document, evaluate, input, output, schedule, timeout, use)",
        ),
        (
            document({"t": {"set": {}}}, output={"ass": "${ . }"}),
            "$.output.ass",
            "'ass' is not a field of output (known: as, schema)",
        ),
    ],
)
def test_an_unknown_key_is_refused_naming_its_path(
    data: dict[str, Any], path: str, problem: str
) -> None:
    error = refuse(data)
    assert (error.path, error.problem) == (path, problem)


def test_keys_the_spec_defines_but_zigflow_does_not_run_are_refused_as_unsupported() -> None:
    schema = {"document": {"type": "object"}}
    error = refuse(document({"t": {"set": {}, "export": {"as": "${ . }", "schema": schema}}}))
    assert error.path == "$.do[0].t.export.schema"
    assert error.problem == (
        "is not supported yet (the exported $context is not checked against a schema)"
    )
    listen = {"listen": {"to": {"one": {"with": {"type": "a"}}}}, "foreach": {"do": []}}
    error = refuse(document({"t": listen}))
    assert (error.path, error.problem) == (
        "$.do[0].t.foreach",
        "is not supported yet (a listen task consumes its events once)",
    )


def test_every_key_the_engine_runs_still_loads() -> None:
    shaping = {
        "if": "${ true }",
        "input": {"from": "${ . }", "schema": {"document": {"type": "object"}}},
        "output": {"as": "${ . }", "schema": {"document": {"type": "object"}}},
        "export": {"as": "${ . }"},
        "timeout": {"after": "PT1M"},
        "metadata": {"owner": "team"},
    }
    parse_document(
        document(
            {"a": {"set": {}, **shaping, "then": "b"}},
            {"b": {"for": {"in": "${ [] }"}, "while": "${ true }", "do": [{"x": {"set": {}}}]}},
            {"c": {"try": [{"x": {"set": {}}}], "catch": {"as": "e"}}},
            {"d": {"call": "http", "with": {"method": "get", "endpoint": "http://h/"}}},
            input={"from": "${ . }"},
            output={"as": "${ . }"},
            timeout={"after": "PT1H"},
            evaluate={"language": "jq", "mode": "strict"},
            schedule={"every": "PT1H"},
        ),
        source="unit.yaml",
    )


def test_zigflow_validate_gives_the_line_of_the_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        'document: {dsl: "1.0.0", namespace: unit, name: typo, version: "1.0.0"}\n'
        "do:\n"
        "  - first:\n"
        "      set: {a: 1}\n"
        "      thne: end\n"
        "  - second:\n"
        "      set: {b: 2}\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_document(path)
    assert str(caught.value) == (
        f"{path}:5: $.do[0].first.thne: 'thne' is not a field of a set task "
        "(known: export, if, input, metadata, output, set, then, timeout)"
    )


SET: dict[str, Any] = {"x": {"set": {}}}


@pytest.mark.parametrize(
    ("task", "path", "problem"),
    [
        (
            {"switch": [{"a": {"when": "${ true }", "thn": "end"}}]},
            "$.do[0].t.switch[0].a.thn",
            "'thn' is not a field of switch case (known: then, when)",
        ),
        (
            {"for": {"in": "${ [] }", "eahc": "i"}, "do": [SET]},
            "$.do[0].t.for.eahc",
            "'eahc' is not a field of for (known: at, each, in)",
        ),
        (
            {"fork": {"branches": [SET], "compet": True}},
            "$.do[0].t.fork.compet",
            "'compet' is not a field of fork (known: branches, compete)",
        ),
        (
            {"raise": {"error": {"type": "t", "status": 400, "detial": "d"}}},
            "$.do[0].t.raise.error.detial",
            "'detial' is not a field of error (known: detail, instance, status, title, type)",
        ),
        (
            {"try": [SET], "catch": {"erors": {"with": {"status": 500}}}},
            "$.do[0].t.catch.erors",
            "'erors' is not a field of catch (known: as, do, errors, exceptWhen, retry, when)",
        ),
        (
            {"try": [SET], "catch": {"errors": {"with": {"stauts": 500}}}},
            "$.do[0].t.catch.errors.with.stauts",
            "'stauts' is not a field of catch.errors.with "
            "(known: detail, details, instance, status, title, type)",
        ),
        (
            {"try": [SET], "catch": {"retry": {"delay": "PT1S", "limit": {"atempt": {}}}}},
            "$.do[0].t.catch.retry.limit.atempt",
            "'atempt' is not a field of retry.limit (known: attempt, duration)",
        ),
        (
            {"try": [SET], "catch": {"retry": {"limit": {"attempt": {"cuont": 3}}}}},
            "$.do[0].t.catch.retry.limit.attempt.cuont",
            "'cuont' is not a field of retry.limit.attempt (known: count, duration)",
        ),
        (
            {"try": [SET], "catch": {"retry": {"backoff": {"exponentail": {}}}}},
            "$.do[0].t.catch.retry.backoff.exponentail",
            "'exponentail' is not a field of retry.backoff (known: constant, exponential, linear)",
        ),
        (
            {"run": {"workflow": {"name": "child", "inptu": {}}}},
            "$.do[0].t.run.workflow.inptu",
            "'inptu' is not a field of run.workflow (known: input, name, namespace, version)",
        ),
        (
            {"run": {"workflow": {"name": "child"}, "wait": False}},
            "$.do[0].t.run.wait",
            "'wait' is not a field of run (known: await, workflow)",
        ),
        (
            {"listen": {"to": {"one": {"with": {"type": "a"}}}, "raed": "data"}},
            "$.do[0].t.listen.raed",
            "'raed' is not a field of listen (known: read, to)",
        ),
        (
            {"call": "http", "with": {"method": "get", "endpoint": "http://h/", "querry": {}}},
            "$.do[0].t.with.querry",
            "'querry' is not a field of call: http with "
            "(known: body, endpoint, headers, method, output, query, redirect)",
        ),
        (
            {"call": "http", "with": {"method": "get", "endpoint": {"url": "http://h/"}}},
            "$.do[0].t.with.endpoint.url",
            "'url' is not a field of endpoint (known: uri)",
        ),
    ],
)
def test_an_unknown_key_inside_a_task_body_is_refused_naming_its_path(
    task: dict[str, Any], path: str, problem: str
) -> None:
    error = refuse(document({"t": task}))
    assert (error.path, error.problem) == (path, problem)


@pytest.mark.parametrize(
    ("task", "path", "why"),
    [
        (
            {"try": [SET], "catch": {"retry": {"jitter": {"from": "PT1S", "to": "PT2S"}}}},
            "$.do[0].t.catch.retry.jitter",
            "retries wait exactly their delay",
        ),
        (
            {"run": {"workflow": {"name": "child"}, "return": "all"}},
            "$.do[0].t.run.return",
            "a run: workflow task returns the child's output",
        ),
        (
            {"listen": {"to": {"one": {"with": {"type": "a"}}, "until": "${ true }"}}},
            "$.do[0].t.listen.to.until",
            "a listen task waits for its events only",
        ),
    ],
)
def test_nested_keys_the_spec_defines_but_zigflow_does_not_run_are_refused(
    task: dict[str, Any], path: str, why: str
) -> None:
    error = refuse(document({"t": task}))
    assert (error.path, error.problem) == (path, f"is not supported yet ({why})")


def test_the_keys_of_reusable_errors_and_retries_are_checked_too() -> None:
    error = refuse(
        document(SET, use={"retries": {"quick": {"delay": "PT1S", "limt": {}}}}),
    )
    assert (error.path, error.problem) == (
        "$.use.retries.quick.limt",
        "'limt' is not a field of retry (known: backoff, delay, exceptWhen, limit, when)",
    )
    error = refuse(document(SET, use={"errors": {"bad": {"type": "t", "status": 1, "x": 1}}}))
    assert error.path == "$.use.errors.bad.x"


def test_every_nested_key_the_engine_runs_still_loads() -> None:
    retry = {
        "when": "${ true }",
        "exceptWhen": "${ false }",
        "delay": "PT1S",
        "backoff": {"exponential": {}},
        "limit": {"attempt": {"count": 3, "duration": "PT1M"}, "duration": "PT5M"},
    }
    catch = {
        "errors": {"with": {"type": "t", "status": 500, "details": "d", "instance": "/i"}},
        "as": "failure",
        "when": "${ true }",
        "exceptWhen": "${ false }",
        "retry": retry,
        "do": [SET],
    }
    parse_document(
        document(
            {"a": {"switch": [{"yes": {"when": "${ true }", "then": "b"}}, {"no": {}}]}},
            {"b": {"for": {"in": "${ [] }", "each": "it", "at": "i"}, "do": [SET]}},
            {"c": {"fork": {"branches": [SET], "compete": True}}},
            {"d": {"try": [SET], "catch": catch}},
            {
                "e": {
                    "run": {
                        "workflow": {"name": "c", "namespace": "n", "version": "1", "input": {}},
                        "await": False,
                    }
                }
            },
            {"f": {"listen": {"to": {"all": [{"with": {"type": "a"}}]}, "read": "data"}}},
            {
                "g": {
                    "call": "http",
                    "with": {
                        "method": "post",
                        "endpoint": {"uri": "http://h/"},
                        "headers": {},
                        "query": {},
                        "body": {},
                        "output": "response",
                        "redirect": True,
                    },
                }
            },
            {
                "h": {
                    "raise": {
                        "error": {
                            "type": "t",
                            "status": 400,
                            "title": "T",
                            "detail": "D",
                            "instance": "/x",
                        }
                    }
                }
            },
            use={"retries": {"r": retry}, "errors": {"e": {"type": "t", "status": 500}}},
        ),
        source="unit.yaml",
    )


def test_every_task_that_fails_is_reported_in_one_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typos.yaml"
    path.write_text(
        'document: {dsl: "1.0.0", namespace: unit, name: typos, version: "1.0.0"}\n'
        "do:\n"
        "  - first:\n"
        "      set: {a: 1}\n"
        "      thne: end\n"
        "  - fine:\n"
        "      set: {b: 2}\n"
        "  - nested:\n"
        "      do:\n"
        "        - inner:\n"
        "            wait: soon\n"
        "  - last:\n"
        "      raise: {error: {type: t}}\n"
    )
    with pytest.raises(DefinitionError) as caught:
        load_document(path)
    found = [(problem.line, problem.path) for problem in caught.value.every]
    assert found == [
        (5, "$.do[0].first.thne"),
        (11, "$.do[2].nested.do[0].inner.wait"),
        (13, "$.do[3].last.raise.error.status"),
    ]
    assert (caught.value.line, caught.value.path) == found[0]  # the first is the error's own
    assert str(caught.value).splitlines()[1].startswith(f"{path}:11: $.do[2].nested.do[0]")
    assert zigflow_cli(["validate", str(path)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        f"INVALID {path}:5",
        f"INVALID {path}:11",
        f"INVALID {path}:13",
    ]
