"""The evaluating process of the expression sandbox (run by path: stdlib and jq only).

    python -I _sandbox_child.py MAX_MEMORY_BYTES MAX_OUTPUT_BYTES CPU_SECONDS

Started by :class:`zigflow.dsl.sandbox.ExpressionSandbox` with an empty environment. It
clears what Python itself put there, sets its limits (address space, no core files), says
``ready``, then answers requests until its standard input closes. A request is two lines:
a JSON list of programs, then the input as JSON text. The answer is one line:
``{"values": [...]}`` (the first result of each program), ``{"error": {"index",
"message", "compiling"}}`` or ``{"limit": {"index", "kind"}}`` (``memory`` or ``output``).

Each request also lowers its CPU-time limit (RLIMIT_CPU) to what it has used plus the
parent's deadline and a second: the parent's deadline is what stops a runaway expression
(it kills this process), this is the backstop should the parent be gone; an idle child
ends when its input closes, which the parent's death does too. (Not PR_SET_PDEATHSIG:
it fires when the *thread* that started the child ends, and any thread may start one.)
"""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import sys
from typing import Any, BinaryIO


def _limit_cpu(seconds: int) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    resource.setrlimit(resource.RLIMIT_CPU, (used + seconds + 1, resource.RLIM_INFINITY))


def _limit(kind: str, index: int) -> bytes:
    return json.dumps({"limit": {"index": index, "kind": kind}}).encode()


def _answer(programs: list[str], text: str, max_output: int, cache: dict[str, Any]) -> bytes:
    import jq

    values: list[str] = []
    produced = 0
    for index, source in enumerate(programs):
        program = cache.get(source)
        if program is None:
            try:
                program = jq.compile(source)
            except ValueError as err:
                error = {"index": index, "message": str(err), "compiling": True}
                return json.dumps({"error": error}).encode()
            if len(cache) >= 1024:
                cache.clear()
            cache[source] = program
        first: str | None = None
        try:
            for result in program.input_text(text):
                encoded = json.dumps(result, separators=(",", ":"))
                produced += len(encoded)
                if produced > max_output:
                    return _limit("output", index)
                if first is None:
                    first = encoded
        except ValueError as err:
            message = str(err)
            if len(message) > max_output:
                return _limit("output", index)
            error = {"index": index, "message": message, "compiling": False}
            return json.dumps({"error": error}).encode()
        except MemoryError:
            return _limit("memory", index)
        values.append("null" if first is None else first)
    return b'{"values": [' + ",".join(values).encode() + b"]}"


def _serve(requests: BinaryIO, answers: BinaryIO, max_output: int, cpu_seconds: int) -> None:
    cache: dict[str, Any] = {}
    answers.write(b"ready\n")
    answers.flush()
    while True:
        header = requests.readline()
        body = requests.readline()
        if not header or not body:
            return
        _limit_cpu(cpu_seconds)
        try:
            answer = _answer(json.loads(header), body.decode(), max_output, cache)
        except MemoryError:
            answer = _limit("memory", 0)
        answers.write(answer + b"\n")
        answers.flush()


def main() -> None:
    max_memory, max_output, cpu_seconds = (int(arg) for arg in sys.argv[1:4])
    os.environ.clear()  # also unsets the C environment jq reads ($ENV, env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the worker to handle
    import jq  # noqa: F401  (loaded before the address space is limited)

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))
    _serve(sys.stdin.buffer, sys.stdout.buffer, max_output, cpu_seconds)


if __name__ == "__main__":
    main()
