"""The local stack's API keys: made once per state folder, private, and stigma-api's file
holds their digests only."""

from __future__ import annotations

import stat
from pathlib import Path

from devstack import OPERATOR, ZIGFLOW_WORKER, ApiPrincipal, StackKeys
from stigma_api.auth import ApiKeys


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_private_kept_and_known_to_stigma_api_by_digest(tmp_path: Path) -> None:
    tenant_a = ApiPrincipal("alice", tenant="tenant-a")
    keys = StackKeys(tmp_path, [ZIGFLOW_WORKER, OPERATOR, tenant_a])
    assert _mode(keys.folder) == 0o700
    for name in ("zigflow-worker", "operator", "alice"):
        assert _mode(keys.key_file(name)) == 0o600
        assert len(keys.key(name)) >= 32
    assert _mode(keys.server_file) == 0o600
    served = keys.server_file.read_text()
    assert all(keys.key(name) not in served for name in keys.principals)
    known = ApiKeys.parse(served, source=str(keys.server_file), from_file=True)
    operator = known.lookup(keys.key("operator"))
    assert operator is not None
    assert operator.operator
    alice = known.lookup(keys.key("alice"))
    assert alice is not None
    assert alice.tenant == "tenant-a"
    again = StackKeys(tmp_path, [ZIGFLOW_WORKER, OPERATOR])
    assert again.key("operator") == keys.key("operator")  # made once per state folder
    assert known.lookup(again.key("zigflow-worker")) is not None
