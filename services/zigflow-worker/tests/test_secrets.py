"""``use.secrets``: declared at load, read once at worker start-up from a folder or the
environment, and a definition whose secret is missing is refused (the others run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zigflow.definitions import prepare
from zigflow.dsl import DefinitionError, RunOptions
from zigflow.dsl.document import parse_document
from zigflow.dsl.expressions import IN_PROCESS
from zigflow.secrets import MissingSecretError, SecretSource


def document(name: str, *tasks: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "document": {"dsl": "1.0.0", "namespace": "unit", "name": name, "version": "1.0.0"},
        "do": list(tasks) or [{"s": {"set": "${ {token: $secrets.token} }"}}],
        **top,
    }


def refuse(data: dict[str, Any]) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        parse_document(data, source="unit.yaml")
    return caught.value


def test_a_file_a_kubernetes_style_folder_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-a-file\n")
    github = tmp_path / "github"
    github.mkdir()
    (github / "user").write_text("octo")
    (github / "key").write_text("k3y\r\n")
    (github / "..data").mkdir()  # what a Kubernetes Secret mount also holds
    source = SecretSource(tmp_path, {"ZIGFLOW_SECRET_TOKEN": "shadowed", "ZIGFLOW_SECRET_DB": "pw"})
    assert source.resolve(["token", "github", "db"]) == {
        "token": "from-a-file",
        "github": {"key": "k3y", "user": "octo"},
        "db": "pw",
    }


def test_a_missing_secret_names_where_it_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(MissingSecretError) as caught:
        SecretSource(tmp_path, {}).read("api_key")
    assert str(tmp_path / "api_key") in str(caught.value)
    assert "ZIGFLOW_SECRET_API_KEY" in str(caught.value)
    with pytest.raises(MissingSecretError, match="no ZIGFLOW_SECRET_API_KEY"):
        SecretSource(None, {}).read("api_key")


def test_values_stay_out_of_reprs() -> None:
    source = SecretSource(None, {"ZIGFLOW_SECRET_TOKEN": "hunter2"})
    options = RunOptions(secrets=source.resolve(["token"]))
    assert "hunter2" not in repr(source)
    assert "hunter2" not in repr(options)


def test_only_declared_secrets_may_be_read() -> None:
    assert parse_document(document("d", use={"secrets": ["token"]}), source="u").secret_names == (
        "token",
    )
    assert refuse(document("d")).path == "$.do[0].s.set"
    bracket = {"s": {"set": '${ $secrets["other"] }'}}
    assert (
        "'other' is not declared"
        in refuse(document("d", bracket, use={"secrets": ["token"]})).problem
    )


@pytest.mark.parametrize(
    ("secrets", "path"),
    [
        ("token", "$.use.secrets"),
        (["ok", "not-a-key"], "$.use.secrets[1]"),
        (["token", "token"], "$.use.secrets[1]"),
        ([3], "$.use.secrets[0]"),
    ],
)
def test_bad_declarations_are_refused(secrets: Any, path: str) -> None:
    assert refuse(document("d", {"s": {"set": {}}}, use={"secrets": secrets})).path == path


def test_a_definition_missing_a_secret_is_refused_and_the_others_run() -> None:
    needs = parse_document(document("needs", use={"secrets": ["token"]}), source="needs.yaml")
    other_secret = {"s": {"set": "${ $secrets.absent }"}}
    lacks = parse_document(
        document("lacks", other_secret, use={"secrets": ["absent"]}), source="lacks.yaml"
    )
    queued = document("queued", {"s": {"set": {}}})
    queued["document"]["metadata"] = {"taskQueue": "elsewhere"}
    elsewhere = parse_document(queued, source="queued.yaml")
    prepared = prepare(
        [needs, lacks, elsewhere],
        secrets=SecretSource(None, {"ZIGFLOW_SECRET_TOKEN": "hunter2"}),
        continue_as_new_after=500,
        evaluator=IN_PROCESS,
    )
    assert [(e.source, e.path) for e in prepared.refused] == [("lacks.yaml", "$.use.secrets")]
    assert "'absent' is not provided" in prepared.refused[0].problem
    assert {
        queue: [c.document.name for c in classes] for queue, classes in prepared.by_queue.items()
    } == {
        "zigflow": ["needs"],
        "elsewhere": ["queued"],
    }
    (needs_class,) = prepared.by_queue["zigflow"]
    assert dict(needs_class.options.secrets) == {"token": "hunter2"}
    assert needs_class.options.evaluator is IN_PROCESS
    assert needs_class.options.continue_as_new_after == 500
    assert needs_class.options.task_queue_of("queued") == "elsewhere"
    # Every document's queue is known, even a refused one's (another worker may run it).
    assert needs_class.options.task_queue_of("lacks") == "zigflow"
