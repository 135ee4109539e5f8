"""Turn a terminal recording (asciicast v2, as ``asciinema rec`` writes it) into one HTML page
that replays it in any browser, offline, with no player library: the recording is embedded
and a few lines of script type it out at its recorded pace.

    uv run python -m devstack.cast_page docs/demo.cast docs/demo.html
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  body {{ background: #111; color: #ddd; font-family: sans-serif; margin: 2em; }}
  pre {{ background: #000; color: #e6e6e6; padding: 1em; min-height: 30em; white-space: pre-wrap;
        font: 14px/1.35 ui-monospace, Menlo, Consolas, monospace; border-radius: 6px; }}
  button {{ font-size: 1em; margin-right: .5em; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{summary}</p>
<p><button id="play">replay</button><button id="end">show all</button>
<label>speed <select id="speed"><option>1</option><option selected>2</option><option>4</option>
</select></label></p>
<pre id="screen"></pre>
<script id="cast" type="application/x-asciicast">{cast}</script>
<script>
"use strict";
const lines = document.getElementById("cast").textContent.trim().split("\\n");
const events = lines.slice(1).map(JSON.parse).filter(e => e[1] === "o");
const screen = document.getElementById("screen");
const ansi = /\\x1b\\[[0-9;?]*[A-Za-z]/g;
let timers = [];
function write(text) {{ screen.textContent += text.replace(ansi, "").replace(/\\r\\n/g, "\\n"); }}
function stop() {{ timers.forEach(clearTimeout); timers = []; }}
function play() {{
  stop(); screen.textContent = "";
  const speed = Number(document.getElementById("speed").value);
  for (const [at, , text] of events) timers.push(setTimeout(() => write(text), at * 1000 / speed));
}}
document.getElementById("play").onclick = play;
document.getElementById("end").onclick = () => {{ stop(); screen.textContent = "";
  events.forEach(([, , text]) => write(text)); }};
play();
</script>
</body>
</html>
"""


def check_cast(text: str) -> list[list[object]]:
    """The events of an asciicast v2 recording; ValueError says what is wrong with it."""
    lines = text.strip().splitlines()
    if not lines:
        raise ValueError("empty recording")
    header = json.loads(lines[0])
    if not isinstance(header, dict) or header.get("version") != 2:
        raise ValueError("not an asciicast v2 recording (first line: the header)")
    events = [json.loads(line) for line in lines[1:]]
    for number, event in enumerate(events, 2):
        if not (isinstance(event, list) and len(event) == 3 and isinstance(event[2], str)):
            raise ValueError(f"line {number}: an event is [time, code, data]")
    return events


def page(cast: str, *, title: str, summary: str) -> str:
    check_cast(cast)
    # Inside <script>, only "</" could end the element early: the JSON never needs it.
    embedded = cast.strip().replace("</", "<\\/")
    return _PAGE.format(title=html.escape(title), summary=html.escape(summary), cast=embedded)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cast_page", description=__doc__)
    parser.add_argument("cast", type=Path)
    parser.add_argument("page", type=Path)
    parser.add_argument("--title", default="make demo, recorded")
    parser.add_argument(
        "--summary",
        default="Temporal and the four services start as local processes; an agent thinks, "
        "checks the time and runs a workflow that calls another agent; each step prints "
        "as it ends.",
    )
    args = parser.parse_args(argv)
    args.page.write_text(page(args.cast.read_text(), title=args.title, summary=args.summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
