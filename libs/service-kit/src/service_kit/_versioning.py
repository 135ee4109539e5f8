"""Worker Versioning for the services that host workflows (docs/adr/0019).

A worker started with a build id joins a worker deployment version (the deployment's name
plus the build id). Its workflows are PINNED: a run is executed only by workers of the
version it started on, whatever is deployed beside it later, so a changed workflow never
replays an older run's history. New runs go to the deployment's *current* version, which
an operator moves (``temporal worker deployment set-current-version``) once the new
version's workers poll; the old version serves its open runs until they are drained.

A deployment that has no current version yet would hold every new run's tasks (no
unversioned worker takes them): so the first version of a deployment makes itself current
once Temporal has seen it poll. After that, a worker never moves traffic by itself: a
deploy adds workers; the operator decides when they take new runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

logger = logging.getLogger(__name__)

_POLL = 1.0


@dataclass(frozen=True)
class DeploymentVersion:
    """This process's worker deployment version; no build id means versioning is off."""

    deployment: str
    build_id: str

    @property
    def enabled(self) -> bool:
        return bool(self.build_id)

    def worker_config(self) -> WorkerDeploymentConfig | None:
        """The Worker's ``deployment_config``: every workflow it hosts is PINNED."""
        if not self.enabled:
            return None
        return WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(
                deployment_name=self.deployment, build_id=self.build_id
            ),
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior.PINNED,
        )

    def __str__(self) -> str:
        return f"{self.deployment}/{self.build_id}" if self.enabled else "unversioned"


async def current_build_id(client: Client, deployment: str) -> str | None:
    """The build id new runs of ``deployment`` go to; None when it has no current version
    (or does not exist yet: no worker of it has polled)."""
    try:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
        )
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    current = described.worker_deployment_info.routing_config.current_deployment_version
    return current.build_id or None


async def become_current_if_first(
    client: Client, version: DeploymentVersion, *, within: timedelta = timedelta(minutes=2)
) -> bool:
    """Make ``version`` the current one if its deployment has none. Returns whether it did.

    Replicas of the same first version may race: the conflict token lets one win, the
    others see it done. It never stops the worker: after ``within`` it logs what the
    operator must do instead.
    """
    if not version.enabled:
        return False
    try:
        if await make_current(client, version, only_if_none=True, within=within):
            logger.info("%s is the first version of its deployment: made it current", version)
            return True
        return False
    except RPCError as err:
        logger.error("could not check %s's deployment: %s", version, err)
        return False
    except TimeoutError:
        logger.error(
            "%s: its deployment has no current version and this one was not seen by Temporal "
            "within %.0f s; new runs wait until an operator runs `temporal worker deployment "
            "set-current-version --deployment-name %s --build-id %s`",
            version,
            within.total_seconds(),
            version.deployment,
            version.build_id,
        )
        return False


async def make_current(
    client: Client,
    version: DeploymentVersion,
    *,
    only_if_none: bool = False,
    within: timedelta = timedelta(minutes=2),
) -> bool:
    """Make ``version`` its deployment's current version (what ``temporal worker deployment
    set-current-version`` does); with ``only_if_none``, only if the deployment has none.
    Returns whether this call changed it.

    Waits until Temporal lists the version (its first poll registers it), and looks again
    when a worker changed the deployment in between (the conflict token no longer
    matches). The server rate-limits these calls per deployment, so they are spaced and
    retried. Raises TimeoutError after ``within``, RPCError on any other refusal.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within.total_seconds()
    pause = _POLL
    while True:
        try:
            return await _set_current(client, version, only_if_none=only_if_none)
        except _NotYet:
            pass
        except RPCError as err:
            if err.status not in _RETRIED:
                raise
        if loop.time() + pause > deadline:
            raise TimeoutError(f"{version} could not be made current within {within}")
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5.0)


class _NotYet(Exception):
    """The version is not registered yet, or another replica changed the routing: look again."""


_RETRIED = (
    RPCStatusCode.NOT_FOUND,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.ABORTED,
)


async def _set_current(client: Client, version: DeploymentVersion, *, only_if_none: bool) -> bool:
    described = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(
            namespace=client.namespace, deployment_name=version.deployment
        )
    )
    info = described.worker_deployment_info
    current = info.routing_config.current_deployment_version.build_id
    if current == version.build_id or (current and only_if_none):
        return False
    known = {summary.deployment_version.build_id for summary in info.version_summaries}
    if version.build_id not in known:
        raise _NotYet
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=version.deployment,
            build_id=version.build_id,
            conflict_token=described.conflict_token,
            identity=client.identity,
        )
    )
    return True
