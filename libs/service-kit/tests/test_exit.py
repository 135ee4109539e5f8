"""exit_process: the code given, with everything printed and logged flushed first."""

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
