"""What an agent run tells the outside world without being asked: search attributes and
replay-safe metrics.

A pending agent call is invisible to the SDK's metrics (they stop at
``raise_complete_async()``), so each run keeps two search attributes equal to its
callbacks that still wait for delivery. Temporal stores them durably; stigma-api's
pending gauge and ``stigmactl pending`` read them through visibility, so no restart of
any worker resets them.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from agent_contract import (
    CALLER_BUCKET_ATTRIBUTE,
    CALLER_PROGRESS_MEMO,
    KEPT_CALLERS_MEMO,
    KEPT_SINCE_ATTRIBUTE,
    PENDING_APPROVALS_ATTRIBUTE,
    PENDING_CALLBACKS_ATTRIBUTE,
    PENDING_SINCE_ATTRIBUTE,
    TENANT_ATTRIBUTE,
    CallerProgress,
    KeptCaller,
    caller_bucket,
)
from service_kit import PendingPublisher
from service_kit import ensure_search_attributes as register_search_attributes

PENDING_APPROVALS = SearchAttributeKey.for_int(PENDING_APPROVALS_ATTRIBUTE)
# Double, not Int: the dev server's SQLite visibility allows three Int attributes, taken.
CALLER_BUCKET = SearchAttributeKey.for_float(CALLER_BUCKET_ATTRIBUTE)
KEPT_SINCE = SearchAttributeKey.for_datetime(KEPT_SINCE_ATTRIBUTE)
PENDING_CALLBACKS = SearchAttributeKey.for_int(PENDING_CALLBACKS_ATTRIBUTE)
SEARCH_ATTRIBUTES = {
    PENDING_CALLBACKS_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    PENDING_SINCE_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    PENDING_APPROVALS_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    CALLER_BUCKET_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    KEPT_SINCE_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    # Set by stigma-api when it starts a run; registered here with the others.
    TENANT_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


def pending_publisher() -> PendingPublisher:
    """The run's callbacks that wait for delivery, as its two pending search attributes."""
    return PendingPublisher(
        count_attribute=PENDING_CALLBACKS_ATTRIBUTE, since_attribute=PENDING_SINCE_ATTRIBUTE
    )


class KeeperPublisher:
    """What the run's keeper reads as it lists (revision 4, docs/adr/0020): the callers it
    beats and the progress they are shown, in the memo, and the run's keeper bucket.

    Upserts only on change, and only once a caller has waited past its first beat: a short
    call writes nothing. Each upsert is one history event in a workflow task the run has
    anyway (an attach, a step's end), never a task of its own.
    """

    def __init__(self, execution_id: str) -> None:
        self._execution_id = execution_id
        self._callers: list[KeptCaller] = []
        self._progress: CallerProgress | None = None
        self._listed_at_start: set[str] = set()

    def started_with(self, callers: list[KeptCaller]) -> None:
        """The callers stigma-api listed in the start request (StartPublication). The run
        leaves that memo as it is until one of its callers outlives its grace, and then
        needs no new bucket for them; a short call still writes nothing."""
        self._listed_at_start = {caller.fingerprint for caller in callers}

    def publish(self, callers: list[KeptCaller], progress: CallerProgress) -> None:
        if not callers and not self._callers:
            return  # nothing published yet, nothing to take back
        if callers == self._callers and progress == self._progress:
            return
        known = {caller.fingerprint for caller in self._callers} | self._listed_at_start
        if any(caller.fingerprint not in known for caller in callers):
            workflow.upsert_search_attributes(
                [
                    CALLER_BUCKET.value_set(float(caller_bucket(self._execution_id))),
                    KEPT_SINCE.value_set(workflow.now()),
                ]
            )
        self._callers, self._progress = list(callers), progress
        workflow.upsert_memo(
            {
                KEPT_CALLERS_MEMO: [asdict(caller) for caller in callers],
                CALLER_PROGRESS_MEMO: asdict(progress),
            }
        )


def published_at_start() -> list[KeptCaller]:
    """The callers the run's start request listed (revision 4, StartPublication). A
    continued run's memo is carried over from its previous run, whose callbacks it adopts
    instead; a run started by an older stigma-api has none."""
    if workflow.info().continued_run_id is not None:
        return []
    callers: list[KeptCaller] = workflow.memo_value(
        KEPT_CALLERS_MEMO, default=[], type_hint=list[KeptCaller]
    )
    return callers


def publish_approvals(waiting: int) -> None:
    """Tool calls of the run that wait for an operator (``stigmactl approvals`` lists them)."""
    workflow.upsert_search_attributes(
        [PENDING_APPROVALS.value_set(waiting) if waiting else PENDING_APPROVALS.value_unset()]
    )


def record_end(*, outcome: str, started_at: str) -> None:
    """Count the run's end and its duration through the workflow's replay-safe meter."""
    meter = workflow.metric_meter().with_additional_attributes({"outcome": outcome})
    meter.create_counter("stigma_agent_executions", "Agent runs that ended, by outcome").add(1)
    if started_at:
        meter.create_histogram_float(
            "stigma_agent_execution_duration_seconds",
            "Agent run duration, from StartAgent's acceptance to its end",
            unit="s",
        ).record((workflow.now() - datetime.fromisoformat(started_at)).total_seconds())


async def ensure_search_attributes(client: Client) -> None:
    """Register the pending-call search attributes if the namespace lacks them."""
    await register_search_attributes(client, SEARCH_ATTRIBUTES)
