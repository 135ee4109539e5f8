"""The demo recording in docs/: a valid terminal cast of the tool-using agent, and a page
that embeds that very cast (regenerate both as docs/demo.html says)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.cast_page import check_cast, page

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_the_recording_shows_the_agent_using_tools_step_by_step() -> None:
    events = check_cast((DOCS / "demo.cast").read_text())
    printed = "".join(str(event[2]) for event in events)
    assert "$ make demo" in printed
    for line in ("model  → think", "tool   think(", "tool   current_time(", "tool   run_workflow("):
        assert line in printed
    assert "agent output:" in printed


def test_the_page_embeds_the_recording_as_it_is() -> None:
    html = (DOCS / "demo.html").read_text()
    cast = (DOCS / "demo.cast").read_text()
    assert html == page(cast, title="make demo, recorded", summary=_summary(html))


def _summary(html: str) -> str:
    start = html.index("<p>") + 3
    return html[start : html.index("</p>", start)]


@pytest.mark.parametrize(
    ("cast", "problem"),
    [
        ("", "empty"),
        ('{"version": 1}', "asciicast v2"),
        ('{"version": 2}\n[0.1, "o"]', "line 2"),
    ],
)
def test_a_broken_recording_is_refused(cast: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_cast(cast)


def test_script_end_tags_in_the_recording_cannot_close_the_page_early() -> None:
    cast = json.dumps({"version": 2}) + "\n" + json.dumps([0.1, "o", "</script><b>x</b>"])
    assert "</script><b>" not in page(cast, title="t", summary="s")
