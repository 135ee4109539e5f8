"""The continue-as-new payload: versioned, read back only by a continued run."""

from __future__ import annotations

import pytest

from zigflow.dsl import DslError
from zigflow.dsl.resume import (
    RESUME_KEY,
    Resume,
    Suspend,
    for_frame,
    list_frame,
    read_resume,
    resume_payload,
    task_frame,
)

STATE = Resume(
    input={"items": [1, 2, 3]},
    started_at="2026-01-01T00:00:00+00:00",
    context={"seen": 2},
    inbox={"approval": [{"ok": True}]},
    continued=1,
    cursor=(
        list_frame(0),
        task_frame({"items": [1, 2, 3]}),
        for_frame(2, [3], {"n": 3}, within=False),
    ),
)


def test_the_payload_round_trips() -> None:
    payload = resume_payload(STATE)
    assert payload[RESUME_KEY]["version"] == 1
    assert read_resume(payload, continued_run=True) == STATE


def test_a_first_run_or_a_user_input_is_not_a_resume() -> None:
    payload = resume_payload(STATE)
    assert read_resume(payload, continued_run=False) is None
    assert read_resume({RESUME_KEY: {}, "other": 1}, continued_run=True) is None
    assert read_resume([1], continued_run=True) is None


def test_an_unknown_version_is_refused() -> None:
    payload = resume_payload(STATE)
    payload[RESUME_KEY]["version"] = 99
    with pytest.raises(DslError, match="resumes version 1, got 99"):
        read_resume(payload, continued_run=True)


def test_frames_are_recorded_outermost_first() -> None:
    suspend = Suspend(for_frame(5, ["e"], None, within=False))
    suspend.enter(task_frame("x")).enter(list_frame(3))
    assert [frame["at"] for frame in suspend.frames] == ["list", "task", "for"]
