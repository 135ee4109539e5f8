"""The expression sandbox: jq programs run in a few long-lived child processes, under limits.

A document is untrusted, and jq runs in C holding the GIL: in the worker's own process
``until(false; .)`` stops every other workflow (and the SIGTERM handler) for good, and
``[range(1e9)]`` takes gigabytes. So the worker evaluates every expression in a child
process of this pool (``_sandbox_child.py``: an empty environment, an address-space limit,
stdlib and jq only), and the calling thread waits on a pipe with a deadline, releasing
the GIL. A child that passes the deadline is killed and replaced; one that runs out of
memory dies or says so; an output larger than the limit is refused in the child, before
it is sent back.

Why this stays deterministic: a program's result is a pure function of the program and
its input (no clock, no environment, no I/O), whichever process computes it, so a replay
computes what the first run did, and the workflow's commands are those in-process jq
gave (the recorded histories replay through this pool). A limit breach is a failure of
the expression, and so of its task, with the DSL's ``expression`` error, like a jq error.
Like the continue-as-new threshold, the limits are part of the workflows' behaviour:
keep them far above what the documents need, and raise rather than lower them while runs
are in flight. A child that dies for any other reason (killed from outside, the pool
closed under it) is no DSL error: :class:`SandboxUnavailable` fails the workflow task,
which Temporal retries.

Workflow code calls :meth:`ExpressionSandbox.run` from the SDK's activation threads (the
DSL workflows run unsandboxed, docs/adr/0003, so no import or call of this module needs a
passthrough); the pool is shared by every workflow of the worker and is thread-safe.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from zigflow.dsl.expressions import LimitExceeded, ProgramError

_CHILD = Path(__file__).resolve().with_name("_sandbox_child.py")
_START_TIMEOUT = 30.0  # a child's start-up (Python and jq), generous on a busy machine
_READ_SIZE = 1 << 16
# How a child that died tells which limit it hit: jq aborts when an allocation fails.
_MEMORY_SIGNALS = frozenset({-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS})
_CPU_SIGNALS = frozenset({-signal.SIGXCPU})
MEBIBYTE = 1 << 20


@dataclass(frozen=True)
class SandboxLimits:
    """What one evaluation may use (one expression, or the expressions of one field such
    as a ``with`` map, which run as one batch)."""

    timeout: timedelta = timedelta(seconds=1)
    """Wall-clock time of one evaluation (ZIGFLOW_EXPRESSION_TIMEOUT)."""
    max_memory_bytes: int = 256 * MEBIBYTE
    """Address space of each evaluating process, the interpreter and jq included
    (RLIMIT_AS; ZIGFLOW_EXPRESSION_MAX_MEMORY_BYTES)."""
    max_output_bytes: int = 4 * MEBIBYTE
    """JSON size of all the results of one evaluation, or of its error message
    (ZIGFLOW_EXPRESSION_MAX_OUTPUT_BYTES)."""

    def problem(self, kind: str) -> str:
        if kind == "time":
            seconds = self.timeout.total_seconds()
            return f"it ran past its time limit of {seconds:g}s (ZIGFLOW_EXPRESSION_TIMEOUT)"
        if kind == "output":
            return (
                f"its output passed its limit of {self.max_output_bytes} bytes"
                " (ZIGFLOW_EXPRESSION_MAX_OUTPUT_BYTES)"
            )
        return (
            f"it ran out of its memory limit of {self.max_memory_bytes} bytes"
            " (ZIGFLOW_EXPRESSION_MAX_MEMORY_BYTES)"
        )


class SandboxUnavailable(RuntimeError):
    """No evaluation happened (the pool is closed, a child could not start or was killed
    from outside): not the document's fault, so not a DSL error."""


class _Died(Exception):
    def __init__(self, returncode: int | None) -> None:
        super().__init__(f"exit code {returncode}")
        self.returncode = returncode


class _Child:
    """One evaluating process and its pipes."""

    def __init__(self, limits: SandboxLimits) -> None:
        cpu_seconds = max(1, math.ceil(limits.timeout.total_seconds()))
        argv = [sys.executable, "-I", str(_CHILD)]
        argv += [str(limits.max_memory_bytes), str(limits.max_output_bytes), str(cpu_seconds)]
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},
            cwd="/",
        )
        self._stdin: IO[bytes] = self.process.stdin  # type: ignore[assignment]
        self._stdout: IO[bytes] = self.process.stdout  # type: ignore[assignment]
        self._buffer = b""
        try:
            ready = self._line(time.monotonic() + _START_TIMEOUT)
        except (TimeoutError, _Died) as err:
            self.kill()
            raise SandboxUnavailable(f"an expression process did not start: {err}") from None
        if ready != b"ready":
            self.kill()
            raise SandboxUnavailable(f"an expression process said {ready[:80]!r} at start")

    def request(self, programs: Sequence[str], input_json: str, deadline: float) -> bytes:
        message = json.dumps(list(programs)).encode() + b"\n" + input_json.encode() + b"\n"
        try:
            self._stdin.write(message)
            self._stdin.flush()
        except (BrokenPipeError, OSError):
            raise _Died(self.process.wait()) from None
        return self._line(deadline)

    def _line(self, deadline: float) -> bytes:
        fd = self._stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(math.ceil(remaining * 1000)):
                raise TimeoutError("deadline")
            chunk = os.read(fd, _READ_SIZE)
            if not chunk:
                raise _Died(self.process.wait())
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._close_pipes()

    def close(self, timeout: float = 2.0) -> None:
        """Ask the child to end (its input closes), then kill it if it does not."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self._stdin, self._stdout):
            with contextlib.suppress(OSError):
                pipe.close()


@dataclass
class _State:
    idle: list[_Child] = field(default_factory=list)
    live: int = 0
    closed: bool = False


class ExpressionSandbox:
    """A pool of evaluating processes: :meth:`run` satisfies
    :class:`zigflow.dsl.expressions.Evaluator`.

    ``processes`` children start with the pool and are reused; one that is killed is
    replaced at once, by a thread of its own. Evaluations beyond ``processes`` at once
    wait for a free child (each is busy for at most the timeout). Use as a context
    manager.
    """

    def __init__(self, *, limits: SandboxLimits | None = None, processes: int = 2) -> None:
        if processes < 1:
            raise ValueError("an expression sandbox needs at least one process")
        self.limits = limits or SandboxLimits()
        self.processes = processes
        self._state = _State()
        self._changed = threading.Condition()

    def __enter__(self) -> ExpressionSandbox:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the children now rather than on the first evaluations."""
        while True:
            with self._changed:
                if self._state.closed or self._state.live >= self.processes:
                    return
                self._state.live += 1
            self._release(self._spawned())

    def close(self) -> None:
        """Stop every idle child; a busy one stops when its evaluation returns."""
        with self._changed:
            self._state.closed = True
            idle, self._state.idle = self._state.idle, []
            self._state.live -= len(idle)
            self._changed.notify_all()
        for child in idle:
            child.close()

    def run(self, programs: Sequence[str], input_json: str) -> list[Any]:
        child = self._acquire()
        deadline = time.monotonic() + self.limits.timeout.total_seconds()
        try:
            line = child.request(programs, input_json, deadline)
        except TimeoutError:
            self._discard(child, kill=True)
            raise LimitExceeded(self.limits.problem("time")) from None
        except _Died as died:
            self._discard(child, kill=False)
            if died.returncode in _MEMORY_SIGNALS:
                raise LimitExceeded(self.limits.problem("memory")) from None
            if died.returncode in _CPU_SIGNALS:
                raise LimitExceeded(self.limits.problem("time")) from None
            raise SandboxUnavailable(
                f"the expression process ended ({died}) before it answered"
            ) from None
        except BaseException:
            self._discard(child, kill=True)
            raise
        self._release(child)
        return _decode(line, self.limits)

    def _acquire(self) -> _Child:
        with self._changed:
            while True:
                if self._state.closed:
                    raise SandboxUnavailable("the expression sandbox is closed")
                if self._state.idle:
                    return self._state.idle.pop()
                if self._state.live < self.processes:
                    self._state.live += 1
                    break
                self._changed.wait()
        return self._spawned()

    def _spawned(self) -> _Child:
        """A new child, for a place already counted in ``live``."""
        try:
            return _Child(self.limits)
        except BaseException:
            with self._changed:
                self._state.live -= 1
                self._changed.notify_all()
            raise

    def _release(self, child: _Child) -> None:
        with self._changed:
            if not self._state.closed:
                self._state.idle.append(child)
                self._changed.notify_all()
                return
            self._state.live -= 1
        child.close()

    def _discard(self, child: _Child, *, kill: bool) -> None:
        """Drop a child that failed, and start its replacement beside the caller: the
        next evaluation, often another workflow's, finds it ready."""
        if kill:
            child.kill()
        else:
            child.process.wait()
            child.close()
        with self._changed:
            self._state.live -= 1
            self._changed.notify_all()
        threading.Thread(target=self._replace, name="expression-sandbox-spawn").start()

    def _replace(self) -> None:
        # On failure, the next evaluation spawns one itself, and reports what went wrong.
        with contextlib.suppress(SandboxUnavailable):
            self.start()


def _decode(line: bytes, limits: SandboxLimits) -> list[Any]:
    answer = json.loads(line)
    if "values" in answer:
        values: list[Any] = answer["values"]
        return values
    if "error" in answer:
        error = answer["error"]
        raise ProgramError(
            int(error["index"]), str(error["message"]), compiling=bool(error["compiling"])
        )
    limit = answer["limit"]
    raise LimitExceeded(limits.problem(str(limit["kind"])), index=int(limit["index"]))
