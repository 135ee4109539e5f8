"""``devstack --replicas``: N for every service, or SERVICE=N for some; refused clearly."""

from __future__ import annotations

import pytest

from devstack import SERVICES
from devstack._stack import instance_names
from devstack.cli import replicas


def test_one_number_is_every_service() -> None:
    assert replicas("2") == dict.fromkeys(SERVICES, 2)


def test_per_service_counts() -> None:
    assert replicas("stigma-api=3, zigflow-worker=2") == {"stigma-api": 3, "zigflow-worker": 2}


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("0", "'0' is not a whole number from 1 to 16"),
        ("17", "'17' is not a whole number from 1 to 16"),
        ("stigma=2", "expected N or SERVICE=N with SERVICE one of stigma-api,"),
        ("stigma-api", "expected N or SERVICE=N"),
        ("stigma-api=two", "--replicas stigma-api: 'two' is not a whole number"),
    ],
)
def test_refusals_name_the_part(spec: str, says: str) -> None:
    with pytest.raises(SystemExit) as refused:
        replicas(spec)
    assert says in str(refused.value)


def test_the_first_instance_keeps_the_service_name() -> None:
    assert instance_names("ai-worker", 3) == ["ai-worker", "ai-worker-2", "ai-worker-3"]
