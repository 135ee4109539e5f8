"""Unknown keys are refused at load (issue 12): a misspelt ``then`` or ``output.as`` was
ignored, so the document ran otherwise than it read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
        "is not supported yet (in a listen task)",
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
