"""The expression sandbox: the same values as jq in this process, limits that end runaway
expressions quickly with an expression error, and a pool that recovers from them."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from zigflow.dsl.expressions import (
    IN_PROCESS,
    ExpressionError,
    ExpressionLimitError,
    evaluate,
    render,
)
from zigflow.dsl.sandbox import MEBIBYTE, ExpressionSandbox, SandboxLimits, SandboxUnavailable

DATA = {"items": [{"name": "lamp", "price": 3}, {"name": "desk", "price": 120}], "n": 2}
VARIABLES: dict[str, Any] = {"input": {"who": "newcomer"}, "context": {"seen": 1}, "item": "x"}
TIME = "ran past its time limit of 1s"
# Small enough that each bomb below meets its own limit first, on a busy machine too.
LIMITS = SandboxLimits(
    timeout=timedelta(seconds=1), max_memory_bytes=128 * MEBIBYTE, max_output_bytes=MEBIBYTE
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ExpressionSandbox]:
    with ExpressionSandbox(limits=LIMITS, processes=2) as pool:
        yield pool


def _works(sandbox: ExpressionSandbox) -> None:
    assert evaluate("${ .n + 1 }", DATA, VARIABLES, sandbox) == 3


PARITY = [
    "${ .items | map(.name) }",
    "${ [.items[] | select(.price > 10)] | length }",
    '${ "\\($input.who) saw \\(.n)" }',
    "${ {seen: $context.seen, item: $item} }",
    "${ .items[] | .price }",  # several results: the first
    "${ empty }",
    "${ 1.5, 3, 1e300, -0 }",
    "${ [nan, infinite] | map(isinfinite) }",
    '${ "é\\u0000" }',
    "${ 100000000000000000000 }",
]


@pytest.mark.parametrize("expression", PARITY)
def test_a_value_is_the_one_jq_gives_in_this_process(
    sandbox: ExpressionSandbox, expression: str
) -> None:
    assert evaluate(expression, DATA, VARIABLES, sandbox) == evaluate(
        expression, DATA, VARIABLES, IN_PROCESS
    )


def test_a_field_is_one_batch_with_the_same_values(sandbox: ExpressionSandbox) -> None:
    template = {"a": "${ .n }", "b": ["${ $input.who }", "text", {"c": "${ .items[0] }"}], "d": 4}
    assert render(template, DATA, VARIABLES, sandbox) == render(template, DATA, VARIABLES)


@pytest.mark.parametrize(
    "template",
    [
        {"ok": "${ .n }", "bad": '${ error("boom") }', "later": "${ .n | tostring }"},
        "${ .items | keys | .[0] | ascii_downcase }",
        "${ 1, error({a: 1}) }",  # an error after the first result still fails
    ],
)
def test_errors_are_the_ones_jq_gives_in_this_process(
    sandbox: ExpressionSandbox, template: Any
) -> None:
    with pytest.raises(ExpressionError) as here:
        render(template, DATA, VARIABLES)
    with pytest.raises(ExpressionError) as sandboxed:
        render(template, DATA, VARIABLES, sandbox)
    assert str(sandboxed.value) == str(here.value)
    assert not isinstance(sandboxed.value, ExpressionLimitError)


def test_the_evaluating_process_has_no_environment(sandbox: ExpressionSandbox) -> None:
    # Without the prelude that shadows them: the process itself has nothing to show.
    assert sandbox.run(["env", "$ENV"], "null") == [{}, {}]


def _limit_error(sandbox: ExpressionSandbox, expression: str, within: float) -> str:
    started = time.monotonic()
    with pytest.raises(ExpressionLimitError) as caught:
        evaluate(expression, {"a": 1}, {}, sandbox)
    elapsed = time.monotonic() - started
    assert elapsed < within, f"{expression} took {elapsed:.2f}s"
    return str(caught.value)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("${ until(false; .) }", r"ran past its time limit of 1s \(ZIGFLOW_EXPRESSION_TIMEOUT\)"),
        # Whichever limit comes first on this machine: time, or memory / output.
        ("${ [range(1e9)] }", f"{TIME}|ran out of its memory limit"),
        ("${ repeat(.) }", f"{TIME}|its output passed its limit"),
        ('${ "x" * 1e9 }', "ran out of its memory limit of 134217728 bytes"),
        ("${ [range(3e5)] }", "its output passed its limit of 1048576 bytes"),
        ("${ [limit(3; repeat(1))], (.a | tostring * 1e7 | error) }", "its output passed"),
    ],
)
def test_a_runaway_expression_fails_quickly_and_the_pool_recovers(
    sandbox: ExpressionSandbox, expression: str, problem: str
) -> None:
    message = _limit_error(sandbox, expression, within=LIMITS.timeout.total_seconds() + 2)
    assert re.search(problem, message), message
    assert message.startswith(f"jq stopped on {expression[2:-1].strip()!r}: ")
    _works(sandbox)
    _works(sandbox)


def test_a_memory_bomb_meets_the_memory_limit_before_a_long_timeout() -> None:
    limits = SandboxLimits(timeout=timedelta(seconds=60), max_memory_bytes=64 * MEBIBYTE)
    with ExpressionSandbox(limits=limits, processes=1) as pool:
        message = _limit_error(pool, "${ [range(1e9)] }", within=30)
        assert "ran out of its memory limit of 67108864 bytes" in message
        _works(pool)


def test_a_runaway_expression_does_not_hold_up_the_others(sandbox: ExpressionSandbox) -> None:
    errors: list[BaseException] = []

    def runaway() -> None:
        try:
            evaluate("${ until(false; .) }", None, {}, sandbox)
        except ExpressionLimitError as err:
            errors.append(err)

    thread = threading.Thread(target=runaway)
    thread.start()
    latencies: list[float] = []
    while thread.is_alive():
        started = time.monotonic()
        _works(sandbox)
        latencies.append(time.monotonic() - started)
    thread.join()
    assert len(errors) == 1
    assert len(latencies) > 10
    print(f"\n{len(latencies)} evaluations beside a runaway one, slowest {max(latencies):.3f}s")
    assert max(latencies) < 0.5


def test_a_child_killed_from_outside_is_no_dsl_error() -> None:
    with ExpressionSandbox(limits=LIMITS, processes=1) as pool:
        (child,) = pool._state.idle
        os.kill(child.process.pid, signal.SIGKILL)
        child.process.wait()
        with pytest.raises(SandboxUnavailable, match="ended"):
            evaluate("${ .n }", DATA, {}, pool)
        _works(pool)  # a new child took its place


def test_a_closed_sandbox_evaluates_nothing() -> None:
    pool = ExpressionSandbox(limits=LIMITS, processes=1)
    pool.start()
    pool.close()
    with pytest.raises(SandboxUnavailable, match="closed"):
        evaluate("${ .n }", DATA, {}, pool)
    assert pool._state.live == 0


def test_a_value_without_expressions_is_copied_without_evaluating() -> None:
    pool = ExpressionSandbox(limits=LIMITS, processes=1)  # never started: not needed
    template = {"a": [1, {"b": "text"}]}
    rendered = render(template, DATA, {}, pool)
    assert rendered == template
    assert rendered is not template
    assert rendered["a"] is not template["a"]
