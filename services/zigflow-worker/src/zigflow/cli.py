"""``zigflow run FILE --input JSON [--json]`` and ``zigflow validate FILE...``.

Exit codes: 0 done; 1 the workflow failed or a definition is invalid; 2 bad arguments,
input or environment, or Temporal unreachable; 3 no worker serves this exact file on its
task queue (``zigflow.launch``: found within 5 s, and the run started is terminated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service_kit import run_cli
from zigflow.definition_settings import load_definition_settings
from zigflow.dsl import DefinitionError, DslError, WorkflowDocument, load_document
from zigflow.dsl.errors import CONFIGURATION
from zigflow.dsl.yaml_source import YamlLimits

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowFailureError


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


# Exit codes of `zigflow run` and `zigflow validate` (README "Command line").
EXIT_OK = 0
EXIT_FAILED = 1
"""The workflow failed, or a definition is invalid."""
EXIT_USAGE = 2
"""Bad arguments, --input or environment, or Temporal unreachable."""
EXIT_NOT_SERVED = 3
"""No worker serves this file on its task queue (nothing keeps running)."""
# 70 (a bug) and 130 (Ctrl-C; a run already started goes on in Temporal, and the message
# names it) are service_kit.run_cli's EXIT_INTERNAL and EXIT_INTERRUPTED.


def report(error: DslError, message: str, *, as_json: bool) -> None:
    """A failure: the DSL error object as JSON on stdout (``--json``), or ``message`` on
    stderr."""
    if as_json:
        print(json.dumps(error.as_dict(), indent=2, sort_keys=True))
    else:
        print(message, file=sys.stderr)


def _validate(paths: list[Path], limits: YamlLimits) -> int:
    failed = 0
    for path in paths:
        try:
            document = load_document(path, limits=limits)
        except DefinitionError as err:
            for problem in err.every:  # every task that fails, one line each
                print(f"INVALID {problem}", file=sys.stderr)
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
    run_cmd.add_argument(
        "--json",
        action="store_true",
        help="print the output, or the DSL error object (type, status, title, detail, "
        "instance), as JSON on stdout",
    )
    validate_cmd = commands.add_parser("validate", help="check definitions without running them")
    validate_cmd.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    as_json = args.command == "run" and args.json
    try:
        limits = load_definition_settings().yaml_limits
    except ValueError as err:
        print(f"zigflow: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "validate":
            return _validate(args.files, limits)
        document = load_document(args.file, limits=limits)
    except DefinitionError as err:
        error = DslError(
            type=CONFIGURATION,
            status=400,
            title="Invalid definition",
            detail=str(err),
            instance=err.path,
        )
        report(error, f"INVALID {err}", as_json=as_json)
        return EXIT_FAILED
    # Imported only to run: `validate`, and a file refused above, never load the Temporal
    # client (and end in well under a second).
    from zigflow.launch import run_file

    return asyncio.run(run_file(document, args.input, as_json=as_json))


def run() -> None:
    run_cli(main, program="zigflow")


if __name__ == "__main__":
    run()
