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
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from service_kit import (
    SettingsLoadError,
    TemporalConnectionError,
    connect_temporal,
    exit_process,
    load_settings,
)
from zigflow.dsl import DefinitionError, DslError, WorkflowDocument, load_document
from zigflow.dsl.errors import (
    COMMUNICATION,
    CONFIGURATION,
    RUNTIME,
    VALIDATION,
    ZIGFLOW_ERROR_BASE,
    from_exception,
)
from zigflow.dsl.yaml_source import YamlLimits
from zigflow.launch import NotServedError, start_watched
from zigflow.settings import DefinitionSettings
from zigflow.workflows import DEFINITION_MISMATCH_ERROR

NOT_SERVED = ZIGFLOW_ERROR_BASE + "NotServed"
_MISMATCH_ADVICE = (
    "copy {path} over the worker's copy in its definitions folder (ZIGFLOW_WORKFLOWS_DIR) "
    "and restart the worker, or run the file the worker has"
)


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


def failure_error(err: WorkflowFailureError) -> DslError:
    """The DSL error object a failed run ended with (a runtime error when the run ended
    otherwise: terminated, timed out, cancelled)."""
    found = from_exception(err.cause, "/") if err.cause is not None else None
    return found or DslError(
        type=RUNTIME, status=500, title="Workflow did not complete", detail=failure_message(err)
    )


def _report(error: DslError, message: str, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(error.as_dict(), indent=2, sort_keys=True))
    else:
        print(message, file=sys.stderr)


async def _run(path: Path, raw_input: str, *, as_json: bool, limits: YamlLimits) -> int:
    document = load_document(path, limits=limits)
    try:
        payload = json.loads(raw_input)
    except json.JSONDecodeError as err:
        error = DslError(type=VALIDATION, status=400, title="Invalid input", detail=str(err))
        _report(error, f"--input is not valid JSON: {err}", as_json=as_json)
        return EXIT_USAGE
    try:
        client = await connect_temporal()
        handle = await start_watched(client, document, payload)
    except RPCError as err:
        detail = f"Temporal refused {err.status.name}: {err.message}"
        error = DslError(type=COMMUNICATION, status=503, title="Temporal refused", detail=detail)
        _report(error, f"zigflow: {detail}", as_json=as_json)
        return EXIT_USAGE
    except TemporalConnectionError as err:
        error = DslError(
            type=COMMUNICATION, status=503, title="Temporal unreachable", detail=str(err)
        )
        _report(error, f"zigflow: {err}", as_json=as_json)
        return EXIT_USAGE
    except NotServedError as err:
        error = DslError(type=NOT_SERVED, status=503, title="Not served", detail=str(err))
        _report(error, f"zigflow: {err}", as_json=as_json)
        return EXIT_NOT_SERVED
    try:
        output = await handle.result()
    except WorkflowFailureError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == DEFINITION_MISMATCH_ERROR:
            detail = f"{cause.message}: {_MISMATCH_ADVICE.format(path=path)}"
            error = DslError(
                type=NOT_SERVED, status=409, title="Other content served", detail=detail
            )
            _report(error, f"zigflow: {detail}", as_json=as_json)
            return EXIT_NOT_SERVED
        error = failure_error(err)
        _report(
            error,
            f"workflow {document.workflow_type} failed: {failure_message(err)}",
            as_json=as_json,
        )
        return EXIT_FAILED
    print(json.dumps(output, indent=None if as_json else 2, sort_keys=True))
    return EXIT_OK


def _validate(paths: list[Path], limits: YamlLimits) -> int:
    failed = 0
    for path in paths:
        try:
            document = load_document(path, limits=limits)
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
        limits = load_settings(DefinitionSettings).yaml_limits
    except SettingsLoadError as err:
        print(f"zigflow: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "validate":
            return _validate(args.files, limits)
        return asyncio.run(_run(args.file, args.input, as_json=as_json, limits=limits))
    except DefinitionError as err:
        error = DslError(
            type=CONFIGURATION,
            status=400,
            title="Invalid definition",
            detail=str(err),
            instance=err.path,
        )
        _report(error, f"INVALID {err}", as_json=as_json)
        return EXIT_FAILED


def run() -> None:
    exit_process(main())


if __name__ == "__main__":
    run()
