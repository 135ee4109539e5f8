"""exit_process: the code given, with everything printed and logged flushed first; run_cli:
a code for every way a command-line tool can end."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import logging, sys
from service_kit import exit_process
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
print("output", end="")
logging.getLogger("t").info("logged")
exit_process(int(sys.argv[1]))
"""


def test_the_code_and_the_buffered_output_survive() -> None:
    for code in (0, 1, 3):
        # stdout to a pipe is block-buffered: only the flush in exit_process writes it.
        done = subprocess.run(
            [sys.executable, "-c", PROGRAM, str(code)], capture_output=True, text=True, check=False
        )
        assert (done.returncode, done.stdout, done.stderr.strip()) == (code, "output", "logged")


CLI = """
import sys
from service_kit import run_cli

def main() -> int:
    print("partial", end="")
    if sys.argv[1] == "interrupt":
        raise KeyboardInterrupt
    if sys.argv[1] == "bug":
        raise LookupError("no such thing")
    return 4

run_cli(main, program="tool")
"""


def _cli(how: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, how], capture_output=True, text=True, check=False
    )


def test_a_cli_ends_with_its_code_130_on_ctrl_c_and_70_on_a_bug() -> None:
    done = _cli("fine")
    assert (done.returncode, done.stdout, done.stderr) == (4, "partial", "")
    done = _cli("interrupt")
    assert (done.returncode, done.stdout, done.stderr) == (130, "partial", "tool: interrupted\n")
    done = _cli("bug")
    assert (done.returncode, done.stdout) == (70, "partial")
    assert done.stderr.startswith("Traceback")
    assert done.stderr.endswith("LookupError: no such thing\n")
