"""stigmactl: list the agent calls callers wait on; complete, fail or cancel a stuck one;
list, approve and reject the tool calls that wait for an operator.

Talks to Temporal with the standard TEMPORAL_* variables (see the root README), and to
stigma-api (approve, reject) at ``--stigma-address`` (STIGMACTL_STIGMA_ADDRESS) with an
operator's credential: ``--stigma-api-key-file`` (STIGMACTL_STIGMA_API_KEY_FILE) or
``--stigma-jwt-file`` (STIGMACTL_STIGMA_JWT_FILE).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import grpc
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from agent_contract import AGENT_CANCELLED_ERROR, AGENT_FAILED_ERROR, CALL_AGENT_ACTIVITY
from service_kit import (
    TemporalConnectionError,
    connect_temporal,
    run_cli,
    temporal_namespace,
)
from stigma_wire import CallerCredentials, CredentialsError
from stigmactl._approvals import StigmaEndpoint, WaitingCall, decide, waiting_calls
from stigmactl._pending import NOT_HELD, PendingCall, pending_calls
from stigmactl._statuses import Unreadable, incomplete_warning

DEFAULT_STIGMA_ADDRESS = "localhost:50051"

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class UsageError(ValueError):
    """A command line that cannot be run; the message says why."""


def duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``24h``, ``2d``."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 15m, 24h or 2d")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = int((now - moment).total_seconds())
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s"


def print_pending(calls: Sequence[PendingCall], out: TextIO, *, as_json: bool) -> None:
    now = datetime.now(UTC)
    if as_json:
        rows = [
            {
                "caller_workflow_id": c.caller_workflow_id,
                "activity_id": c.activity_id,
                "attempt": c.attempt,
                "waiting_since": c.waiting_since.isoformat() if c.waiting_since else None,
                "age_seconds": age.total_seconds() if (age := c.age(now)) else None,
                "last_heartbeat": c.last_heartbeat.isoformat() if c.last_heartbeat else None,
                "execution_id": c.execution_id,
                "phase": c.phase,
                "steps": c.steps,
            }
            for c in calls
        ]
        json.dump(rows, out, indent=2)
        out.write("\n")
        return
    header = (
        "CALLER WORKFLOW",
        "ACTIVITY",
        "ATTEMPT",
        "AGE",
        "LAST HEARTBEAT",
        "EXECUTION",
        "PHASE",
    )
    table = [header] + [
        (
            c.caller_workflow_id,
            c.activity_id,
            str(c.attempt),
            _ago(c.waiting_since, now),
            _ago(c.last_heartbeat, now) + (" ago" if c.last_heartbeat else ""),
            c.execution_id or "-",
            c.phase if c.phase == NOT_HELD else f"{c.phase} ({c.steps} steps)",
        )
        for c in calls
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        out.write("\n")
    out.write(f"{len(calls)} pending agent call(s)\n")


def print_waiting(calls: Sequence[WaitingCall], out: TextIO, *, as_json: bool) -> None:
    if as_json:
        json.dump([vars(call) for call in calls], out, indent=2)
        out.write("\n")
        return
    for call in calls:
        out.write(
            f"{call.execution_id}  {call.tool_call_id}  {call.tool}({call.arguments})  "
            f"waiting since {call.requested_at}\n"
        )
    out.write(f"{len(calls)} tool call(s) wait for approval\n")


async def _describe_pending(client: Client, workflow_id: str, activity_id: str) -> tuple[str, Any]:
    """The run id of the workflow's current run and its pending activity ``activity_id``."""
    description = await client.get_workflow_handle(workflow_id).describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_id == activity_id:
            return description.run_id, pending
    raise UsageError(
        f"workflow {workflow_id!r} (namespace {client.namespace!r}) has no pending "
        f"activity {activity_id!r}"
    )


def _check_namespace(client: Client) -> None:
    """stigmactl acts in the namespace it is configured for (TEMPORAL_NAMESPACE) only."""
    configured = temporal_namespace()
    if client.namespace != configured:
        raise UsageError(
            f"the Temporal client is in namespace {client.namespace!r}, but stigmactl is "
            f"configured for {configured!r} (TEMPORAL_NAMESPACE): nothing done"
        )


async def finish(
    client: Client,
    *,
    action: str,
    workflow_id: str,
    activity_id: str,
    result: Any = None,
    message: str = "",
    confirm: Callable[[str], bool],
    out: TextIO,
    force: bool = False,
) -> int:
    """Complete, fail or cancel a caller's pending CallAgent activity after ``confirm``
    agrees, in the configured namespace only.

    Any other activity (a CallHttp, a CallGrpc, an orchestrator's own) is refused, saying
    what it is, unless ``force``: finishing it would hand it a result it never computed.
    It acts on the run it described (its run id), never on a newer run of the same id.
    """
    _check_namespace(client)
    run_id, pending = await _describe_pending(client, workflow_id, activity_id)
    kind = pending.activity_type.name
    if kind != CALL_AGENT_ACTIVITY and not force:
        raise UsageError(
            f"{workflow_id} activity {activity_id} is a {kind!r} activity, not a "
            f"{CALL_AGENT_ACTIVITY}: stigmactl finishes agent calls only (--force to act "
            "on it anyway)"
        )
    cancel_requested = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
    what = {
        "complete": f"complete it with {json.dumps(result)}",
        "fail": f"fail it as {AGENT_FAILED_ERROR}: {message}",
        "cancel": "report its cancellation"
        if cancel_requested
        else f"fail it as {AGENT_CANCELLED_ERROR} (the caller did not ask to cancel)",
    }[action]
    prompt = (
        f"{client.namespace}/{workflow_id} activity {activity_id} ({kind}, attempt "
        f"{pending.attempt}): {what}?"
    )
    if not confirm(prompt):
        out.write("nothing done\n")
        return 1
    handle = client.get_async_activity_handle(
        workflow_id=workflow_id, run_id=run_id, activity_id=activity_id
    )
    details = {"by": "stigmactl", "error": message or f"{action} by an operator"}
    if action == "complete":
        await handle.complete(result)
    elif action == "fail":
        await handle.fail(
            ApplicationError(
                message or "failed by an operator",
                details,
                type=AGENT_FAILED_ERROR,
                non_retryable=True,
            )
        )
    elif cancel_requested:
        await handle.report_cancellation(details)
    else:
        await handle.fail(
            ApplicationError(
                message or "cancelled by an operator",
                details,
                type=AGENT_CANCELLED_ERROR,
                non_retryable=True,
            )
        )
    out.write(f"done: {workflow_id} activity {activity_id} {action}d\n")
    return 0


def _ask(prompt: str) -> bool:
    answer = input(f"{prompt} Type 'yes' to go on: ")
    return answer.strip().lower() == "yes"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="stigmactl", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    pending = commands.add_parser("pending", help="list the agent calls callers wait on")
    pending.add_argument("--older-than", type=duration, help="only calls waiting longer (24h)")
    pending.add_argument("--json", action="store_true", help="JSON instead of a table")
    for action, helptext in (
        ("complete", "complete a caller's pending activity with a result"),
        ("fail", "fail a caller's pending activity as AgentFailed"),
        ("cancel", "cancel a caller's pending activity"),
    ):
        command = commands.add_parser(action, help=helptext)
        command.add_argument("workflow_id", help="the caller's workflow id")
        command.add_argument("activity_id", help="its CallAgent activity id")
        command.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        command.add_argument(
            "--force",
            action="store_true",
            help="act on an activity that is not a CallAgent (refused otherwise)",
        )
        if action == "complete":
            command.add_argument("--result", default="null", help="JSON result (default null)")
        else:
            command.add_argument("--message", default="", help="the failure message")
    approvals = commands.add_parser("approvals", help="list the tool calls waiting for approval")
    approvals.add_argument("--json", action="store_true", help="JSON instead of lines")
    for action, helptext in (
        ("approve", "let a waiting tool call run"),
        ("reject", "refuse a waiting tool call (the model is told the reason)"),
    ):
        command = commands.add_parser(action, help=helptext)
        command.add_argument("execution_id", help="the agent execution (agent-...)")
        command.add_argument("tool_call_id", help="the waiting call (stigmactl approvals)")
        command.add_argument(
            "--reason", default="", help="why; a rejection's reason reaches the model"
        )
        command.add_argument(
            "--stigma-address",
            default=os.environ.get("STIGMACTL_STIGMA_ADDRESS", DEFAULT_STIGMA_ADDRESS),
            help="stigma-api host:port (STIGMACTL_STIGMA_ADDRESS; default localhost:50051)",
        )
        command.add_argument(
            "--stigma-ca", type=Path, default=None, help="PEM CA of stigma-api's TLS certificate"
        )
        command.add_argument(
            "--stigma-api-key-file",
            default=os.environ.get("STIGMACTL_STIGMA_API_KEY_FILE", ""),
            help="file holding an API key for stigma-api (STIGMACTL_STIGMA_API_KEY_FILE; "
            "make up prints the local operator's)",
        )
        command.add_argument(
            "--stigma-jwt-file",
            default=os.environ.get("STIGMACTL_STIGMA_JWT_FILE", ""),
            help="file holding a JWT for stigma-api (STIGMACTL_STIGMA_JWT_FILE)",
        )
    return root


INCOMPLETE = 3
"""Exit code of a listing that could not read every run: what it printed is not all."""


def _incomplete(unreadable: list[Unreadable], what: str, stderr: TextIO) -> int:
    if not unreadable:
        return 0
    stderr.write(incomplete_warning(unreadable, what))
    return INCOMPLETE


async def amain(
    argv: Sequence[str],
    *,
    client: Client | None = None,
    out: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    args = parser().parse_args(argv)
    if args.command in ("approve", "reject"):
        credentials = CallerCredentials(
            api_key_file=args.stigma_api_key_file,
            jwt_file=args.stigma_jwt_file,
            names="STIGMACTL_STIGMA_",
        )
        try:
            credentials.check()
        except CredentialsError as err:
            raise UsageError(str(err)) from None
        execution = await decide(
            StigmaEndpoint(args.stigma_address, args.stigma_ca, credentials),
            execution_id=args.execution_id,
            tool_call_id=args.tool_call_id,
            approve=args.command == "approve",
            reason=args.reason,
        )
        out.write(
            f"done: {args.tool_call_id} {args.command}d; {execution.execution_id} has "
            f"{len(execution.pending_approvals)} call(s) still waiting\n"
        )
        return 0
    if client is None:
        client = await connect_temporal()
    if args.command == "approvals":
        waiting = await waiting_calls(client)
        print_waiting(waiting.calls, out, as_json=args.json)
        return _incomplete(waiting.unreadable, "tool calls waiting for approval", stderr)
    if args.command == "pending":
        pending = await pending_calls(client, older_than=args.older_than)
        print_pending(pending.calls, out, as_json=args.json)
        return _incomplete(pending.unreadable, "waiting callers", stderr)
    try:
        result = json.loads(args.result) if args.command == "complete" else None
    except json.JSONDecodeError as err:
        raise UsageError(f"--result is not JSON: {err}") from None
    return await finish(
        client,
        action=args.command,
        workflow_id=args.workflow_id,
        activity_id=args.activity_id,
        result=result,
        message=getattr(args, "message", ""),
        confirm=(lambda _prompt: True) if args.yes else _ask,
        out=out,
        force=args.force,
    )


def main(argv: list[str]) -> int:
    """``amain`` with the failures a user causes turned into one line and an exit code."""
    try:
        return asyncio.run(amain(argv))
    except (UsageError, TemporalConnectionError) as err:
        print(f"stigmactl: {err}", file=sys.stderr)
        return 2
    except RPCError as err:
        print(f"stigmactl: Temporal refused: {err.status.name}: {err.message}", file=sys.stderr)
        return 1
    except grpc.aio.AioRpcError as err:
        print(f"stigmactl: stigma-api refused: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1


def run() -> None:
    run_cli(lambda: main(sys.argv[1:]), program="stigmactl")


if __name__ == "__main__":
    run()
