"""Load-time checks of switch, for, try, fork, raise, wait, listen, run and call: http."""

from __future__ import annotations

from typing import Any

import pytest

from zigflow.dsl import DefinitionError
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


SWITCH = {"route": {"switch": [{"yes": {"when": "${ .ok }", "then": "done"}}, {"no": {}}]}}
DONE = {"done": {"set": {"finished": True}}}
LOOP = {"each": {"for": {"in": "${ .items }", "each": "row"}, "do": [{"s": {"set": "${ $row }"}}]}}
TRY = {
    "guard": {
        "try": [{"fail": {"raise": {"error": {"type": "runtime", "status": 500}}}}],
        "catch": {
            "errors": {"with": {"type": "runtime"}},
            "as": "oops",
            "when": "${ $oops.status >= 500 }",
            "retry": {"delay": "PT1S", "limit": {"attempt": {"count": 2}}},
            "do": [{"note": {"set": {"why": "${ $oops.title }"}}}],
        },
    }
}
FORK = {"both": {"fork": {"compete": True, "branches": [{"a": {"wait": "PT1S"}}, DONE]}}}
LISTEN = {"hear": {"listen": {"to": {"all": [{"with": {"type": "a"}}, {"with": {"type": "b"}}]}}}}
RUN = {"child": {"run": {"workflow": {"namespace": "n", "name": "other", "version": "1"}}}}
HTTP = {"get": {"call": "http", "with": {"method": "get", "endpoint": {"uri": "http://x/{id}"}}}}


def test_every_new_task_type_loads() -> None:
    loaded = parse_document(
        document(SWITCH, DONE, LOOP, TRY, FORK, LISTEN, RUN, HTTP, {"w": {"wait": {"seconds": 1}}}),
        source="unit.yaml",
    )
    assert [task.name for task in loaded.tasks][:3] == ["route", "done", "each"]


def test_loop_and_catch_variables_compile_but_unknown_ones_do_not() -> None:
    bad = {"s": {"set": "${ $nowhere }"}}
    assert refuse(document(LOOP, bad)).path == "$.do[1].s.set"


@pytest.mark.parametrize(
    ("tasks", "path"),
    [
        (
            [{"r": {"switch": [{"c": {"when": "${ .a }", "then": "nowhere"}}]}}],
            "$.do[0].r.switch[0].c.then",
        ),
        ([{"r": {"switch": [{"a": {}}, {"b": {}}]}}], "$.do[0].r.switch"),
        ([{"r": {"switch": []}}], "$.do[0].r.switch"),
        ([{"f": {"for": {"each": "x"}, "do": [DONE]}}], "$.do[0].f.for.in"),
        ([{"f": {"for": {"in": "${ .x | }"}, "do": [DONE]}}], "$.do[0].f.for.in"),
        ([{"t": {"try": [DONE], "catch": {"retry": "named"}}}], "$.do[0].t.catch.retry"),
        (
            [{"t": {"try": [DONE], "catch": {"retry": {"delay": "soon"}}}}],
            "$.do[0].t.catch.retry.delay",
        ),
        ([{"t": {"try": [], "catch": {}}}], "$.do[0].t.try"),
        ([{"k": {"fork": {"branches": []}}}], "$.do[0].k.fork.branches"),
        ([{"e": {"raise": {"error": {"status": 400}}}}], "$.do[0].e.raise.error.type"),
        ([{"w": {"wait": "later"}}], "$.do[0].w.wait"),
        (
            [{"l": {"listen": {"to": {"one": {"with": {}}}}}}],
            "$.do[0].l.listen.to.one[0].with.type",
        ),
        ([{"l": {"listen": {"to": {"any": []}}}}], "$.do[0].l.listen.to.any"),
        (
            [{"l": {"listen": {"to": {"one": {"with": {"type": "a"}}, "all": []}}}}],
            "$.do[0].l.listen.to",
        ),
        (
            [{"l": {"listen": {"to": {"one": {"with": {"type": "a", "source": "b"}}}}}}],
            "$.do[0].l.listen.to.one[0]",
        ),
        (
            [{"l": {"listen": {"to": {"one": {"with": {"type": "a"}}}, "read": "raw"}}}],
            "$.do[0].l.listen.read",
        ),
        (
            [{"s": {"set": {}, "output": {"schema": {"document": {"type": 3}}}}}],
            "$.do[0].s.output.schema.document",
        ),
        ([{"r": {"run": {"shell": {"command": "ls"}}}}], "$.do[0].r.run.shell"),
        ([{"r": {"run": {"container": {"image": "x"}}}}], "$.do[0].r.run.container"),
        ([{"r": {"run": {"script": {"code": "1"}}}}], "$.do[0].r.run.script"),
        ([{"r": {"run": {"workflow": {}}}}], "$.do[0].r.run.workflow"),
        ([{"h": {"call": "http", "with": {"endpoint": "http://x"}}}], "$.do[0].h.with.method"),
        (
            [{"h": {"call": "http", "with": {"method": "get", "endpoint": "e", "output": "xml"}}}],
            "$.do[0].h.with.output",
        ),
        ([{"h": {"call": "openapi", "with": {}}}], "$.do[0].h.call"),
        ([{"e": {"emit": {"event": {"with": {"type": "x"}}}}}], "$.do[0].e.emit"),
    ],
)
def test_bad_tasks_name_their_json_path(tasks: list[dict[str, Any]], path: str) -> None:
    assert refuse(document(*tasks)).path == path


def test_bad_loop_variable_name_is_refused() -> None:
    loop = {"f": {"for": {"in": "${ . }", "each": "not a name"}, "do": [DONE]}}
    assert "cannot name a variable" in refuse(document(loop)).problem


def test_input_schema_must_be_a_valid_json_schema() -> None:
    bad = {"schema": {"format": "json", "document": {"type": "no-such-type"}}}
    assert refuse(document(DONE, input=bad)).path == "$.input.schema.document"
    missing = {"schema": {"format": "json"}}
    assert refuse(document(DONE, input=missing)).path == "$.input.schema"


def test_named_errors_and_retries_must_exist_and_other_use_is_refused() -> None:
    use = {"errors": {"gone": {"type": "runtime", "status": 410}}, "retries": {"r": {}}}
    fine = {"t": {"try": [{"e": {"raise": {"error": "gone"}}}], "catch": {"retry": "r"}}}
    parse_document(document(fine, use=use), source="unit.yaml")
    unknown_error = {"e": {"raise": {"error": "missing"}}}
    assert refuse(document(unknown_error, use=use)).path == "$.do[0].e.raise.error"
    unknown_retry = {"t": {"try": [DONE], "catch": {"retry": "nope"}}}
    assert refuse(document(unknown_retry, use=use)).path == "$.do[0].t.catch.retry"
    other: dict[str, Any] = {"authentications": {"basic": {}}}
    assert refuse(document(DONE, use=other)).path == "$.use.authentications"


def test_functions_are_checked_like_tasks_and_called_by_name() -> None:
    get = {"call": "http", "with": {"method": "get", "endpoint": "${ .url }"}}
    caller = {"c": {"call": "fetch", "with": {"url": "http://x"}}}
    parse_document(document(caller, use={"functions": {"fetch": get}}), source="unit.yaml")
    broken = {"call": "http", "with": {"endpoint": "http://x"}}
    path = refuse(document(caller, use={"functions": {"fetch": broken}})).path
    assert path == "$.use.functions.fetch.with.method"
    looping = {"call": "fetch"}
    path = refuse(document(caller, use={"functions": {"fetch": looping}})).path
    assert path == "$.use.functions.fetch.call"
    assert refuse(document({"c": {"call": "nowhere"}})).path == "$.do[0].c.call"


def test_document_timeout_must_be_a_duration() -> None:
    assert refuse(document(DONE, timeout={"after": "soon"})).path == "$.timeout.after"
    parse_document(document(DONE, timeout={"after": {"minutes": 5}}), source="unit.yaml")
