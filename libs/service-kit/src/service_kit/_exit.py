"""Ending a process that used a Temporal client without the interpreter's teardown."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn


def exit_process(code: int) -> NoReturn:
    """Flush what the process wrote, then end it with ``code``, skipping interpreter
    finalization.

    The Temporal SDK's Rust core keeps Tokio threads that call into Python; when one of
    them releases the GIL while the interpreter is finalizing, CPython aborts
    ("PyGILState_Release: thread state ... must be current", exit code 134), after the
    program has printed its result. The SDK offers no way to stop those threads
    (temporalio/sdk-python#300), so every entry point of the project that may have
    created a client ends here instead of returning to the interpreter: output and logs
    are flushed first, then ``os._exit``. Call it only at the very end of a ``run()``
    entry point, never from code a test imports and calls.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe: nothing more can be written anyway.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


EXIT_INTERRUPTED = 130
"""Ctrl-C, as a shell reports a process ended by SIGINT."""
EXIT_INTERNAL = 70
"""A bug: an exception no code path expected (BSD's EX_SOFTWARE)."""


def run_cli(main: Callable[[], int], *, program: str) -> NoReturn:
    """A command-line tool's whole ``run()``: ``main`` returns the exit code, and every
    other outcome gets one too, through ``exit_process``. Ctrl-C ends with 130 and one
    line instead of a traceback; an unexpected exception prints its traceback and ends
    with 70, so a script tells a bug from a failure the tool reports (its own codes)."""
    try:
        code = main()
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
        code = EXIT_INTERNAL
    exit_process(code)
