"""A worker's deployment version from its settings: off without a build id, PINNED with."""

from __future__ import annotations

from temporalio.common import VersioningBehavior

from service_kit import DeploymentVersion


def test_no_build_id_means_unversioned() -> None:
    version = DeploymentVersion("stigma-orchestrator", "")
    assert not version.enabled
    assert version.worker_config() is None
    assert str(version) == "unversioned"


def test_a_build_id_pins_every_workflow_to_its_version() -> None:
    config = DeploymentVersion("zigflow-worker", "2026.11.29").worker_config()
    assert config is not None
    assert config.use_worker_versioning
    assert config.default_versioning_behavior is VersioningBehavior.PINNED
    assert config.version.deployment_name == "zigflow-worker"
    assert config.version.build_id == "2026.11.29"
