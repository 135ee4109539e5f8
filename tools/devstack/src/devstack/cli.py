"""``devstack demo | up | down | status``: the local stack for people (make demo/up/down)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowFailureError

from devstack._phoenix import DEFAULT_GRPC_PORT, DEFAULT_PORT, LocalPhoenix
from devstack._private import open_private, private_dir, write_private
from devstack._prometheus import LocalPrometheus
from devstack._stack import REPO_ROOT, SERVICES, LocalStack, StackConfig, fixed_metrics_ports
from devstack._steps import print_steps
from devstack._tracing import configured_endpoint, demo_trace, tracing_disabled
from service_kit import run_cli
from zigflow.cli import failure_message, start_and_wait
from zigflow.dsl import load_document

DEFAULT_STATE = REPO_ROOT / ".state"
DEFAULT_METRICS_BASE_PORT = 9460
DEMO_WORKFLOW = REPO_ROOT / "examples" / "hello-agent.yaml"
DEFAULT_INPUT = '{"topic": "a durable token handshake", "requester": "make demo"}'


def replicas(spec: str) -> dict[str, int]:
    """``--replicas``: ``N`` for every service, or ``SERVICE=N,...``."""
    spec = spec.strip()
    if spec.isdigit():
        return dict.fromkeys(SERVICES, _count("--replicas", spec))
    counts: dict[str, int] = {}
    for part in spec.split(","):
        name, equals, count = part.strip().partition("=")
        if not equals or name not in SERVICES:
            raise SystemExit(
                f"devstack: --replicas {part.strip()!r}: expected N or SERVICE=N with SERVICE "
                f"one of {', '.join(SERVICES)}"
            )
        counts[name] = _count(f"--replicas {name}", count)
    return counts


def _count(what: str, value: str) -> int:
    if not value.strip().isdigit() or not 1 <= int(value) <= 16:
        raise SystemExit(f"devstack: {what}: {value!r} is not a whole number from 1 to 16")
    return int(value)


def _config(args: argparse.Namespace, viewer: LocalPhoenix | None) -> StackConfig:
    # Fixed, so that prometheus/prometheus.local.yml and bookmarks keep working (the first
    # instance of each service; further replicas take free ports, shown in the banner).
    ports = fixed_metrics_ports(args.metrics_base_port)
    return StackConfig(
        replicas=replicas(args.replicas),
        state_dir=args.state_dir,
        temporal_port=args.temporal_port,
        ui_port=args.ui_port,
        stigma_port=args.stigma_port,
        metrics_ports=ports,
        temporal_metrics_port=ports["temporal"],
        env=viewer.exporter_env() if viewer is not None else {},
    )


def _trace_viewer(args: argparse.Namespace) -> LocalPhoenix | None:
    """The stack's Phoenix, unless traces are off (``--no-traces``, OTEL_SDK_DISABLED) or
    the environment already names an OTLP endpoint, which the services then export to."""
    if args.no_traces or tracing_disabled() or configured_endpoint() is not None:
        return None
    return LocalPhoenix(
        state_dir=args.state_dir / "phoenix",
        port=args.phoenix_port,
        grpc_port=args.phoenix_grpc_port,
    )


def _traced(viewer: LocalPhoenix | None) -> bool:
    """Whether the services export spans (and so log trace ids)."""
    return viewer is not None or (not tracing_disabled() and configured_endpoint() is not None)


def _traces_line(viewer: LocalPhoenix | None) -> str:
    if viewer is not None:
        return (
            f"traces        {viewer.url}  (Phoenix; OTLP/gRPC {viewer.otlp_endpoint}; "
            "TRACES=0 / --no-traces turns it off)"
        )
    if not tracing_disabled() and (endpoint := configured_endpoint()) is not None:
        return f"traces        exported to {endpoint}  (your OTEL_EXPORTER_OTLP_* setting)"
    return "traces        off"


def _banner(stack: LocalStack, viewer: LocalPhoenix | None) -> str:
    metrics = ", ".join(
        f"{name} :{t.rpartition(':')[2]}" for name, t in stack.metrics_targets().items()
    )
    return (
        f"Temporal      {stack.temporal.address}  (UI http://127.0.0.1:{stack.temporal.ui_port})\n"
        f"stigma-api    {stack.stigma_address}  (callers need an API key: "
        f"{stack.api_keys.folder}/*.key)\n"
        f"stigmactl     export STIGMACTL_STIGMA_API_KEY_FILE="
        f"{stack.api_keys.key_file('operator')}  (approve, reject)\n"
        f"/metrics      {metrics}\n"
        f"{_traces_line(viewer)}\n"
        f"logs          {stack.config.state_dir / 'logs'}"
    )


async def _start(
    args: argparse.Namespace, resources: contextlib.AsyncExitStack
) -> tuple[LocalStack, LocalPhoenix | None]:
    """Phoenix and the stack, started side by side (Phoenix's start takes longest); on the
    way out the services stop first, so their last spans still reach Phoenix."""
    viewer = _trace_viewer(args)
    if viewer is not None:
        resources.push_async_callback(viewer.stop)
        await viewer.launch()
    stack = await resources.enter_async_context(LocalStack(_config(args, viewer)))
    if viewer is not None:
        await viewer.ready()
    return stack, viewer


async def _trace_link(stack: LocalStack, viewer: LocalPhoenix, trace_id: str) -> str:
    """The demo's trace in Phoenix. This stops the services first (they flush their last
    spans) and waits until Phoenix has stored the whole trace, so the link shows it all."""
    await stack.stop()
    try:
        trace = await viewer.stored_trace(trace_id)
    except TimeoutError:
        return (
            f"trace: Phoenix has not stored trace {trace_id}; its log: "
            f"{viewer.process.log_file}, the services': {stack.config.state_dir / 'logs'}"
        )
    return (
        f"trace: {viewer.trace_url(trace)}\n"
        f"       ({trace.num_spans} spans in Phoenix; the link opens while `make up` runs: "
        f"the traces are kept in {viewer.state_dir})"
    )


async def _demo(args: argparse.Namespace) -> int:
    document = load_document(args.workflow)
    payload = json.loads(args.input)
    print("starting the local stack ...", flush=True)
    async with contextlib.AsyncExitStack() as resources:
        stack, viewer = await _start(args, resources)
        print(_banner(stack, viewer), flush=True)
        print(f"running {args.workflow.name} with input {json.dumps(payload)}", flush=True)
        started = time.monotonic()
        workflow_id = f"{document.name}-{uuid.uuid4().hex[:12]}"
        steps = asyncio.create_task(
            print_steps(stack.client, stack.stigma_channel, workflow_id, sys.stdout)
        )
        endpoint = viewer.otlp_endpoint if viewer is not None else None
        output: Any = None
        failure: str | None = None
        with demo_trace(stack.client, endpoint=endpoint) as (traced, trace_id):
            try:
                output = await start_and_wait(traced, document, payload, workflow_id=workflow_id)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(steps, timeout=10)
            except WorkflowFailureError as err:
                failure = failure_message(err)
            finally:
                steps.cancel()
        trace_line = (
            f"trace id: {trace_id}  (the trace_id field of every service's log lines)\n"
            if _traced(viewer)
            else ""
        )
        if failure is not None:
            print(f"workflow failed: {failure}\n{trace_line}", end="", file=sys.stderr)
        else:
            print(trace_line, end="")
            print(f"\nworkflow finished in {time.monotonic() - started:.1f}s; its output:")
            print(json.dumps(output, indent=2, sort_keys=True))
            if isinstance(output, dict) and "answer" in output:
                print(f"\nagent output: {output['answer']}")
        print("\nstopping everything ...", flush=True)
        if viewer is not None:
            print(await _trace_link(stack, viewer, trace_id))
    return 0 if failure is None else 1


async def _serve(args: argparse.Namespace) -> int:
    ready = args.state_dir / "devstack.ready"
    ready.unlink(missing_ok=True)
    async with contextlib.AsyncExitStack() as extra:
        stack, viewer = await _start(args, extra)
        banner = _banner(stack, viewer)
        if args.prometheus:
            prometheus = LocalPrometheus(
                state_dir=args.state_dir / "prometheus",
                targets=stack.scrape_jobs(),
                port=args.prometheus_port,
            )
            await extra.enter_async_context(prometheus)
            banner += (
                f"\nprometheus    {prometheus.url}  (alert rules from prometheus/rules; "
                "runbook links under RUNBOOK_BASE_URL)"
            )
        write_private(ready, banner)
        try:
            await asyncio.Event().wait()  # until SIGTERM cancels us
        finally:
            ready.unlink(missing_ok=True)
    return 0


def _pid_file(state_dir: Path) -> Path:
    return state_dir / "devstack.pid"


def _up(args: argparse.Namespace) -> int:
    state: Path = args.state_dir
    private_dir(state)
    pid_file = _pid_file(state)
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        print(f"already up (pid {pid_file.read_text()}); `make down` stops it")
        return 0
    argv = [sys.executable, "-m", "devstack.cli", "--state-dir", str(state)]
    for flag in (
        "temporal_port", "ui_port", "stigma_port", "metrics_base_port", "prometheus_port",
        "phoenix_port", "phoenix_grpc_port", "replicas",
    ):  # fmt: skip
        if (value := getattr(args, flag)) is not None:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    argv.append("serve")  # global options go before the command
    if args.prometheus:
        argv.append("--prometheus")
    if args.no_traces:
        argv.append("--no-traces")
    log = open_private(state / "devstack.log")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    write_private(pid_file, str(process.pid))
    ready = state / "devstack.ready"
    # Phoenix's first start (its database created, its bytecode compiled) is the slowest.
    deadline = time.monotonic() + 300
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            print(f"the stack did not come up; see {state / 'devstack.log'}", file=sys.stderr)
            _stop(process.pid)
            return 1
        time.sleep(0.2)
    print(ready.read_text())
    print("up. `make down` stops it.")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(pid: int, timeout: float = 60) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)


def _down(args: argparse.Namespace) -> int:
    pid_file = _pid_file(args.state_dir)
    if not pid_file.exists():
        print("not up")
        return 0
    pid = int(pid_file.read_text())
    _stop(pid)
    pid_file.unlink(missing_ok=True)
    print("down")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line of ``devstack``."""
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--temporal-port", type=int, default=7233)
    parser.add_argument("--ui-port", type=int, default=8233)
    parser.add_argument("--stigma-port", type=int, default=50051)
    parser.add_argument(
        "--metrics-base-port",
        type=int,
        default=DEFAULT_METRICS_BASE_PORT,
        help="/metrics of stigma-api, stigma-orchestrator, ai-worker, zigflow-worker, Temporal "
        "on this port and the next four",
    )
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument(
        "--replicas",
        default="1",
        help="instances per service: N for every service, or SERVICE=N,... for some "
        "(e.g. stigma-api=2,zigflow-worker=2); the zigflow-worker balances over every "
        "stigma-api (REPLICAS=2 make up)",
    )
    parser.add_argument(
        "--phoenix-port", type=int, default=DEFAULT_PORT, help="the trace viewer's UI"
    )
    parser.add_argument(
        "--phoenix-grpc-port",
        type=int,
        default=DEFAULT_GRPC_PORT,
        help="the trace viewer's OTLP/gRPC endpoint, where the services export their spans",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="start, run one workflow, print its output, stop")
    demo.add_argument("--workflow", type=Path, default=DEMO_WORKFLOW)
    demo.add_argument("--input", default=DEFAULT_INPUT)
    commands_with_stack = [demo]
    for name, helptext in (
        ("up", "start the stack in the background"),
        ("serve", "run the stack in the foreground until SIGTERM"),
    ):
        command = commands.add_parser(name, help=helptext)
        command.add_argument(
            "--prometheus",
            action="store_true",
            help="also run a local Prometheus (Debian's package) scraping the stack",
        )
        commands_with_stack.append(command)
    for command in commands_with_stack:
        command.add_argument(
            "--no-traces",
            action="store_true",
            help="no trace viewer (Phoenix) and no tracing, unless OTEL_EXPORTER_OTLP_ENDPOINT "
            "names an endpoint of your own",
        )
    commands.add_parser("down", help="stop the stack started by up")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "up":
        return _up(args)
    if args.command == "down":
        return _down(args)
    runner = _demo if args.command == "demo" else _serve
    return asyncio.run(_until_signal(runner(args)))


async def _until_signal(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main``; SIGINT (Ctrl-C) or SIGTERM cancels it, so the stack is always stopped."""
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        print("interrupted: the stack was stopped", file=sys.stderr)
        return 130


def run() -> None:
    run_cli(main, program="devstack")


if __name__ == "__main__":
    run()
