"""A run's pinned definition: the worker hands out the text it loaded, a run continued as
new carries it, and a worker runs an older text under the same checks or refuses it
(the run's workflow task fails, and is retried) naming why."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from zigflow.dsl import WorkflowDocument, load_document
from zigflow.dsl.activity_share import ActivityShareSetting
from zigflow.dsl.model import content_hash
from zigflow.dsl.pinned_texts import PinnedTexts
from zigflow.dsl.pinning import PinnedDefinition, ServedDefinitions
from zigflow.dsl.resume import RESUME_KEY, Resume, list_frame, read_resume, resume_payload
from zigflow.dsl.tasks.set_task import SetBody

HEADER = 'document: {dsl: "1.0.0", namespace: unit, name: flow, version: "1.0.0"}\n'
V1 = HEADER + "do:\n  - first: { set: { value: one } }\n"
V2 = HEADER + "do:\n  - first: { set: { value: two } }\n  - pause: { wait: PT1S }\n"


def loaded(tmp_path: Path, text: str) -> WorkflowDocument:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return load_document(path)


def pinned(text: str) -> PinnedDefinition:
    return PinnedDefinition(sha256=content_hash(text), text=text)


async def test_the_worker_hands_out_the_exact_text_it_loaded(tmp_path: Path) -> None:
    document = loaded(tmp_path, V1)
    served = await ActivityEnvironment().run(ServedDefinitions([document]).served, "flow")
    assert served == pinned(V1)


def test_the_loaded_document_runs_when_the_run_pinned_the_same_text(tmp_path: Path) -> None:
    document = loaded(tmp_path, V1)
    assert PinnedTexts().document(pinned(V1), document, {}) is document


def test_an_older_text_runs_as_it_was_written(tmp_path: Path) -> None:
    document = loaded(tmp_path, V2)
    texts = PinnedTexts()
    older = texts.document(pinned(V1), document, {})
    assert [task.name for task in older.tasks] == ["first"]
    assert older.tasks[0].body == SetBody({"value": "one"})
    assert older.content_hash == content_hash(V1)
    assert older.source == f"{document.source}@{content_hash(V1)[:12]}"
    assert texts.document(pinned(V1), document, {}) is older  # parsed once per worker


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            HEADER + "do:\n  - first: { set: { value: one }, thne: end }\n",
            "which this worker refuses",
        ),
        (HEADER.replace("name: flow", "name: other") + "do: [{a: {set: {}}}]\n", "'other'"),
        (
            HEADER
            + "use: { secrets: [apiKey] }\n"
            + "do:\n  - first: { set: { k: '${ $secrets.apiKey }' } }\n",
            "declares secrets this worker does not hold: apiKey",
        ),
    ],
)
def test_a_text_this_worker_cannot_run_fails_the_task_naming_why(
    tmp_path: Path, text: str, problem: str
) -> None:
    document = loaded(tmp_path, V2)
    with pytest.raises(RuntimeError, match=problem) as caught:
        PinnedTexts().document(pinned(text), document, {})
    assert content_hash(text)[:12] in str(caught.value)
    assert str(document.source) in str(caught.value)


def test_a_text_that_is_not_what_its_hash_names_is_refused(tmp_path: Path) -> None:
    document = loaded(tmp_path, V2)
    forged = PinnedDefinition(sha256=content_hash(V1), text=V1.replace("one", "evil"))
    with pytest.raises(RuntimeError, match="not the text its hash names"):
        PinnedTexts().document(forged, document, {})


def test_a_continued_run_carries_the_pinned_text() -> None:
    state = Resume(
        input={},
        started_at="2026-01-01T00:00:00+00:00",
        context={},
        inbox={},
        continued=1,
        cursor=(list_frame(0),),
        definition=pinned(V1),
    )
    payload = resume_payload(state)
    assert payload[RESUME_KEY]["definition"] == {"sha256": content_hash(V1), "text": V1}
    assert read_resume(payload, continued_run=True) == state
    del payload[RESUME_KEY]["definition"]  # a payload written before pinning
    resumed = read_resume(payload, continued_run=True)
    assert resumed is not None
    assert resumed.definition is None


def test_a_runs_share_of_the_slots_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ActivityShareSetting(0)
