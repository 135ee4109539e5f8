"""``use.secrets`` and ``evaluate`` on a real Temporal server: a document sees only the
secrets it declares; one whose secret the worker lacks is refused at start-up."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from devstack import LocalStack
from tests.support import eventually, history_events, start_dsl

TOKEN = "tok-only-the-worker-knows"  # ZIGFLOW_SECRET_DSL_TOKEN in tests/conftest.py


async def test_a_declared_secret_is_visible_and_nothing_else(client: Client) -> None:
    handle = await start_dsl(client, "dsl-secrets", {"n": 21})
    assert await handle.result() == {
        "visible": ["dsl_token"],  # ZIGFLOW_SECRET_UNDECLARED is set but not declared
        "tokenLength": len(TOKEN),
        "literal": "plain text stays text in a data position",
        "doubled": 42,  # loose mode: a plain `set` string is a jq expression
    }


async def test_a_definition_whose_secret_is_missing_is_not_served(client: Client) -> None:
    # Refused at the worker's start-up: its workflow type is not registered, so every
    # workflow task fails (and is retried) until the run is ended.
    handle = await start_dsl(client, "dsl-secrets-missing", {})

    async def task_failed() -> bool:
        return bool(await history_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED))

    await eventually(task_failed)
    (failed,) = (await history_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED))[:1]
    assert "dsl-secrets-missing" in failed.workflow_task_failed_event_attributes.failure.message
    await handle.terminate("test done")


async def test_the_worker_log_names_the_refusal_and_never_a_value(
    stack: LocalStack, client: Client
) -> None:
    await (await start_dsl(client, "dsl-secrets", {"n": 1})).result()
    log = (stack.config.state_dir / "logs" / "zigflow-worker.log").read_text()
    assert "dsl-secrets-missing.yaml: $.use.secrets: secret 'never_provided' is not provided" in log
    assert "ZIGFLOW_SECRET_NEVER_PROVIDED" in log
    assert TOKEN not in log
    assert "never-visible" not in log
