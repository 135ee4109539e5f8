"""Loading definitions: a bad one is refused at load time with its file and JSON path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from zigflow.dsl import DefinitionError, WorkflowDocument, load_directory, load_document
from zigflow.dsl.document import parse_document
from zigflow.dsl.model import TASK_TYPES, DataFlow, TaskNode
from zigflow.dsl.tasks import KINDS
from zigflow.dsl.tasks.call_task import CallBody
from zigflow.dsl.tasks.set_task import SetBody

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"
EXAMPLES = sorted([*EXAMPLES_DIR.glob("*.yaml"), *EXAMPLES_DIR.glob("*.yml")])

AGENT_TASK: dict[str, Any] = {
    "call": "agent",
    "with": {
        "name": "explainer",
        "model": "scripted:echo",
        "input": "${ .question }",
        "parameters": {"steps": 2},
        "heartbeat": "PT30S",
    },
    "timeout": {"after": {"hours": 1}},
    "export": {"as": "${ $context + {agent: .execution_id} }"},
}


def good() -> dict[str, Any]:
    return {
        "document": {
            "dsl": "1.0.0",
            "namespace": "examples",
            "name": "hello-agent",
            "version": "1.0.0",
            "summary": "ask one agent",
        },
        "input": {"from": "${ . }"},
        "do": [
            {"prepare": {"set": {"question": '${ .q // "why?" }'}}},
            {"ask": copy.deepcopy(AGENT_TASK)},
            {
                "branch": {
                    "do": [
                        {"skip": {"set": {"a": 1}, "if": "${ .skip }", "then": "inner"}},
                        {"inner": {"set": "${ . }", "then": "exit"}},
                    ],
                    "then": "answer",
                }
            },
            {"answer": {"set": {"answer": "${ .output }"}, "then": "end"}},
        ],
    }


def refuse(data: Any) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        parse_document(data, source="test.yaml")
    return caught.value


def with_task(task: Any, name: str = "t") -> dict[str, Any]:
    data = good()
    data["do"] = [{name: task}]
    return data


def test_good_document() -> None:
    document = parse_document(good(), source="test.yaml")
    assert isinstance(document, WorkflowDocument)
    assert (document.source, document.dsl, document.namespace) == ("test.yaml", "1.0.0", "examples")
    assert (document.name, document.version) == ("hello-agent", "1.0.0")
    assert [task.name for task in document.tasks] == ["prepare", "ask", "branch", "answer"]
    assert document.tasks[1] == TaskNode(
        name="ask",
        kind="call",
        body=CallBody("agent", AGENT_TASK["with"]),
        flow=DataFlow(
            timeout_after={"hours": 1}, export_as="${ $context + {agent: .execution_id} }"
        ),
    )
    assert document.tasks[1].raw == AGENT_TASK
    assert document.raw == good()


def test_workflow_type_defaults_to_the_document_name() -> None:
    assert parse_document(good(), source="s").workflow_type == "hello-agent"


def test_workflow_type_can_be_overridden_in_metadata() -> None:
    data = good()
    data["document"]["metadata"] = {"workflowType": "HelloAgentV2", "owner": "team"}
    assert parse_document(data, source="s").workflow_type == "HelloAgentV2"


def test_metadata_without_workflow_type_keeps_the_name() -> None:
    data = good()
    data["document"]["metadata"] = {"owner": "team"}
    assert parse_document(data, source="s").workflow_type == "hello-agent"


@pytest.mark.parametrize("dsl", ["1.0", "1.0.0", "1.0.3", "1.0.0-alpha5", "1.0.0-rc.1"])
def test_accepted_dsl_versions(dsl: str) -> None:
    data = good()
    data["document"]["dsl"] = dsl
    assert parse_document(data, source="s").dsl == dsl


def test_error_carries_source_path_and_problem() -> None:
    error = refuse(with_task({"emit": {"event": {"with": {}}}}))
    assert error.source == "test.yaml"
    assert error.path == "$.do[0].t.emit"
    assert "not supported" in error.problem
    assert str(error) == f"test.yaml: $.do[0].t.emit: {error.problem}"
    assert isinstance(error, ValueError)


def _set(path: list[str | int], value: Any) -> dict[str, Any]:
    data = good()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def _drop(path: list[str | int]) -> dict[str, Any]:
    data = good()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


BAD_DOCUMENTS: list[tuple[str, str, Any]] = [
    ("not-a-map", "$", ["do", "something"]),
    ("none", "$", None),
    ("no-document", "$.document", _drop(["document"])),
    ("document-not-map", "$.document", _set(["document"], "hello")),
    ("no-dsl", "$.document.dsl", _drop(["document", "dsl"])),
    ("no-namespace", "$.document.namespace", _drop(["document", "namespace"])),
    ("no-name", "$.document.name", _drop(["document", "name"])),
    ("no-version", "$.document.version", _drop(["document", "version"])),
    ("empty-name", "$.document.name", _set(["document", "name"], "")),
    ("version-a-number", "$.document.version", _set(["document", "version"], 1.0)),
    ("dsl-0.9", "$.document.dsl", _set(["document", "dsl"], "0.9")),
    ("dsl-2", "$.document.dsl", _set(["document", "dsl"], "2.0.0")),
    ("dsl-1.1", "$.document.dsl", _set(["document", "dsl"], "1.1.0")),
    ("dsl-1.0.x", "$.document.dsl", _set(["document", "dsl"], "1.0.x")),
    ("name-uppercase", "$.document.name", _set(["document", "name"], "Hello")),
    ("name-underscore", "$.document.name", _set(["document", "name"], "hello_agent")),
    ("name-dash-end", "$.document.name", _set(["document", "name"], "hello-")),
    ("namespace-dot", "$.document.namespace", _set(["document", "namespace"], "a.b")),
    ("metadata-not-map", "$.document.metadata", _set(["document", "metadata"], "x")),
    ("input-not-map", "$.input", _set(["input"], "${ . }")),
    ("output-not-map", "$.output", _set(["output"], ["as"])),
    ("no-do", "$.do", _drop(["do"])),
    ("empty-do", "$.do", _set(["do"], [])),
    ("do-a-map", "$.do", _set(["do"], {"t": {"set": {}}})),
    ("entry-not-map", "$.do[1]", _set(["do", 1], "ask")),
    ("entry-two-names", "$.do[1]", _set(["do", 1], {"a": {"set": {}}, "b": {"set": {}}})),
    ("entry-empty", "$.do[1]", _set(["do", 1], {})),
    ("task-not-map", "$.do[1].ask", _set(["do", 1], {"ask": "call agent"})),
    ("duplicate-name", "$.do[1].prepare", _set(["do", 1], {"prepare": {"set": {}}})),
    ("no-type", "$.do[0].t", with_task({"then": "end"})),
    ("unknown-type", "$.do[0].t", with_task({"invoke": "x"})),
    ("two-types", "$.do[0].t", with_task({"set": {}, "do": [{"x": {"set": {}}}]})),
    ("unsupported-emit", "$.do[0].t.emit", with_task({"emit": {"event": {"with": {}}}})),
    (
        "listen-without-event-type",
        "$.do[0].t.listen.to.one[0].with.type",
        with_task({"listen": {"to": {"one": {}}}}),
    ),
    ("then-unknown", "$.do[0].prepare.then", _set(["do", 0, "prepare", "then"], "nowhere")),
    ("then-not-text", "$.do[0].prepare.then", _set(["do", 0, "prepare", "then"], ["ask"])),
    (
        "then-outside-list",
        "$.do[2].branch.do[0].skip.then",
        _set(["do", 2, "branch", "do", 0, "skip", "then"], "answer"),
    ),
    (
        "nested-duplicate",
        "$.do[2].branch.do[1].skip",
        _set(["do", 2, "branch", "do", 1], {"skip": {"set": {}}}),
    ),
    ("nested-empty-do", "$.do[2].branch.do", _set(["do", 2, "branch", "do"], [])),
    (
        "bad-jq",
        "$.do[0].prepare.set.question",
        _set(["do", 0, "prepare", "set", "question"], "${ .a | }"),
    ),
    ("bad-jq-in-list", "$.do[0].t.set.xs[1]", with_task({"set": {"xs": ["ok", "${ .[ }"]}})),
    ("bad-jq-in-if", "$.do[0].t.if", with_task({"set": {}, "if": "${ .a == }"})),
    ("bad-jq-in-with", "$.do[1].ask.with.input", _set(["do", 1, "ask", "with", "input"], "${ ) }")),
    ("set-a-number", "$.do[0].t.set", with_task({"set": 3})),
    ("call-openapi", "$.do[1].ask.call", _set(["do", 1, "ask", "call"], "openapi")),
    ("call-a-map", "$.do[1].ask.call", _set(["do", 1, "ask", "call"], {"agent": {}})),
    ("call-no-with", "$.do[1].ask.with", _drop(["do", 1, "ask", "with"])),
    ("call-with-text", "$.do[1].ask.with", _set(["do", 1, "ask", "with"], "${ .args }")),
    ("call-no-model", "$.do[1].ask.with.model", _drop(["do", 1, "ask", "with", "model"])),
    ("call-no-input", "$.do[1].ask.with.input", _drop(["do", 1, "ask", "with", "input"])),
    (
        "call-bad-heartbeat",
        "$.do[1].ask.with.heartbeat",
        _set(["do", 1, "ask", "with", "heartbeat"], "30 seconds"),
    ),
    (
        "bad-timeout",
        "$.do[1].ask.timeout.after",
        _set(["do", 1, "ask", "timeout"], {"after": "PT"}),
    ),
    ("timeout-no-after", "$.do[1].ask.timeout.after", _set(["do", 1, "ask", "timeout"], {})),
    ("timeout-a-string", "$.do[1].ask.timeout", _set(["do", 1, "ask", "timeout"], "PT1H")),
    ("export-a-string", "$.do[1].ask.export", _set(["do", 1, "ask", "export"], "${ . }")),
    ("task-input-a-list", "$.do[0].t.input", with_task({"set": {}, "input": ["from"]})),
    ("task-output-a-string", "$.do[0].t.output", with_task({"set": {}, "output": "${ . }"})),
]


@pytest.mark.parametrize(
    ("path", "data"),
    [(path, data) for _, path, data in BAD_DOCUMENTS],
    ids=[case for case, _, _ in BAD_DOCUMENTS],
)
def test_bad_documents_name_the_json_path(path: str, data: Any) -> None:
    error = refuse(copy.deepcopy(data))
    assert error.path == path
    assert error.source == "test.yaml"
    assert str(error).startswith(f"test.yaml: {path}: ")


def test_every_unsupported_task_type_is_refused_at_its_type_key() -> None:
    for kind in sorted(TASK_TYPES - set(KINDS)):
        error = refuse(with_task({kind: {}}))
        assert error.path == f"$.do[0].t.{kind}", kind
        assert repr(kind) in error.problem


def test_bad_jq_problem_quotes_the_program() -> None:
    error = refuse(with_task({"set": {"x": "${ .a | }"}}))
    assert ".a |" in error.problem


def test_flow_directives_and_siblings_are_valid_targets() -> None:
    data = good()
    data["do"] = [
        {"a": {"set": {}, "then": "c"}},
        {"b": {"set": {}, "then": "exit"}},
        {"c": {"set": {}, "then": "continue"}},
        {"d": {"set": {}, "then": "end"}},
        {"e": {"set": {}, "then": "a"}},
    ]
    assert len(parse_document(data, source="s").tasks) == 5


def test_null_optional_maps_are_tolerated() -> None:
    data = good()
    data["input"] = None
    data["document"]["metadata"] = None
    data["do"][0]["prepare"]["export"] = None
    assert parse_document(data, source="s").workflow_type == "hello-agent"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


DOC = """\
document:
  dsl: "1.0.0"
  namespace: tests
  name: {name}
  version: "1.0.0"
{metadata}
do:
  - only:
      set:
        ok: true
"""


def test_load_document_reads_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path / "one.yaml", DOC.format(name="one", metadata=""))
    document = load_document(path)
    assert document.source == str(path)
    assert document.tasks == (TaskNode("only", "set", SetBody({"ok": True})),)


def test_load_document_refuses_broken_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.yaml", "document: [unclosed\n  - : :")
    with pytest.raises(DefinitionError) as caught:
        load_document(path)
    assert caught.value.path == "$"
    assert caught.value.source == str(path)
    assert "not valid YAML" in caught.value.problem


def test_load_document_refuses_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_document(_write(tmp_path / "empty.yaml", ""))
    assert caught.value.path == "$"


def test_load_directory_keeps_valid_documents_and_reports_the_rest(tmp_path: Path) -> None:
    _write(tmp_path / "a-first.yaml", DOC.format(name="first", metadata=""))
    _write(tmp_path / "b-second.yml", DOC.format(name="second", metadata=""))
    _write(tmp_path / "c-broken.yaml", "document: [unclosed")
    _write(tmp_path / "d-invalid.yaml", DOC.format(name="Invalid_Name", metadata=""))
    _write(
        tmp_path / "e-clash.yaml",
        DOC.format(name="third", metadata="  metadata:\n    workflowType: first"),
    )
    _write(
        tmp_path / "f-overflow.yaml",
        DOC.format(name="huge", metadata="").replace(
            "      set:", "      timeout:\n        after: P99999999999D\n      set:"
        ),
    )
    _write(tmp_path / "notes.txt", "not a definition")

    documents, errors = load_directory(tmp_path)

    assert [d.workflow_type for d in documents] == ["first", "second"]
    assert [(Path(e.source).name, e.path) for e in errors] == [
        ("c-broken.yaml", "$"),
        ("d-invalid.yaml", "$.document.name"),
        ("e-clash.yaml", "$.document.name"),
        ("f-overflow.yaml", "$.do[0].only.timeout.after"),
    ]
    assert "already defined by" in errors[2].problem
    assert "a-first.yaml" in errors[2].problem


def test_load_directory_of_an_empty_folder(tmp_path: Path) -> None:
    assert load_directory(tmp_path) == ([], [])


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 2, EXAMPLES_DIR


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_example_parses(path: Path) -> None:
    document = load_document(path)
    assert document.workflow_type
    assert document.tasks


def test_examples_load_together_without_errors() -> None:
    documents, errors = load_directory(EXAMPLES_DIR)
    assert errors == []
    assert len(documents) == len(EXAMPLES)
    assert {"hello-agent", "failing-agent"} <= {d.workflow_type for d in documents}
