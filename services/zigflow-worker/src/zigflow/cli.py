"""``zigflow run FILE --input JSON`` and ``zigflow validate FILE...``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError

from service_kit import connect_temporal, exit_process
from zigflow.dsl import DefinitionError, WorkflowDocument, load_document


async def start_and_wait(
    client: Client, document: WorkflowDocument, payload: Any, *, workflow_id: str | None = None
) -> Any:
    """Start the document's workflow on its task queue and wait for its output (the
    output of the last run when it continued as new)."""
    return await client.execute_workflow(
        document.workflow_type,
        payload,
        id=workflow_id or f"{document.name}-{uuid.uuid4().hex[:12]}",
        task_queue=document.task_queue,
    )


def failure_message(err: WorkflowFailureError) -> str:
    """The whole cause chain, innermost last: what a user needs to see."""
    parts: list[str] = []
    cause: BaseException | None = err.cause
    while cause is not None:
        parts.append(str(cause))
        cause = cause.__cause__ or getattr(cause, "cause", None)
    return " <- ".join(parts) or str(err)


async def _run(path: Path, raw_input: str) -> int:
    document = load_document(path)
    try:
        payload = json.loads(raw_input)
    except json.JSONDecodeError as err:
        print(f"--input is not valid JSON: {err}", file=sys.stderr)
        return 2
    client = await connect_temporal()
    try:
        output = await start_and_wait(client, document, payload)
    except WorkflowFailureError as err:
        print(f"workflow {document.workflow_type} failed: {failure_message(err)}", file=sys.stderr)
        return 1
    print(json.dumps(output, indent=2, sort_keys=True))
    return 0


def _validate(paths: list[Path]) -> int:
    failed = 0
    for path in paths:
        try:
            document = load_document(path)
        except DefinitionError as err:
            print(f"INVALID {err}", file=sys.stderr)
            failed += 1
        else:
            print(f"ok      {path} (workflow type {document.workflow_type})")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zigflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="start a workflow file and print its output")
    run_cmd.add_argument("file", type=Path)
    run_cmd.add_argument("--input", default="{}", help="workflow input as JSON (default {})")
    validate_cmd = commands.add_parser("validate", help="check definitions without running them")
    validate_cmd.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args.files)
        return asyncio.run(_run(args.file, args.input))
    except DefinitionError as err:
        print(f"INVALID {err}", file=sys.stderr)
        return 1


def run() -> None:
    exit_process(main())


if __name__ == "__main__":
    run()
