"""Per-tenant quotas name the limit they refuse with; auth settings fail fast naming the
variable, and a server without any caller authentication does not start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from temporalio.client import Client

from service_kit import SettingsLoadError
from stigma_api.auth import digest_entry
from stigma_api.auth.setup import authenticator
from stigma_api.quotas import QuotaExceeded, TenantQuota, TenantQuotas, running_query, tenant_quotas
from stigma_api.settings import ApiSettings

CALLBACK_KEYS = "k:0123456789abcdef0123"


@dataclass
class Counted:
    count: int


class FakeVisibility:
    """count_workflows answers how many runs of the queried tenant run."""

    def __init__(self, running: dict[str, int]) -> None:
        self.running = running
        self.queries: list[str] = []

    async def count_workflows(self, query: str) -> Counted:
        self.queries.append(query)
        tenant = query.rsplit("= '", 1)[1].rstrip("'")
        return Counted(self.running.get(tenant, 0))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _quotas(
    visibility: FakeVisibility, clock: Clock, default: TenantQuota, **overrides: TenantQuota
) -> TenantQuotas:
    return TenantQuotas(
        cast(Client, visibility),
        default=default,
        overrides=overrides,
        refresh=timedelta(seconds=1),
        clock=clock,
    )


async def test_running_agents_are_counted_per_tenant_and_the_refusal_names_the_limit() -> None:
    visibility, clock = FakeVisibility({"acme": 50, "beta": 1}), Clock()
    quotas = _quotas(visibility, clock, TenantQuota(max_running=50))
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.check("acme")
    assert str(caught.value) == (
        "tenant acme: 50 running agents, the limit is 50 (STIGMA_API_TENANT_MAX_RUNNING): "
        "retry later"
    )
    assert caught.value.limit == "running"
    await quotas.check("beta")
    assert visibility.queries == [running_query("acme"), running_query("beta")]
    assert "StigmaTenant = 'acme'" in visibility.queries[0]


async def test_a_count_is_reused_within_the_refresh_plus_what_was_admitted() -> None:
    visibility, clock = FakeVisibility({"acme": 1}), Clock()
    quotas = _quotas(visibility, clock, TenantQuota(max_running=3))
    await quotas.check("acme")
    quotas.admitted("acme")
    await quotas.check("acme")
    quotas.admitted("acme")
    with pytest.raises(QuotaExceeded, match="3 running agents, the limit is 3"):
        await quotas.check("acme")
    assert len(visibility.queries) == 1
    clock.now += 1.0
    visibility.running["acme"] = 0  # they ended
    await quotas.check("acme")
    assert len(visibility.queries) == 2


async def test_the_start_rate_is_a_bucket_per_tenant() -> None:
    visibility, clock = FakeVisibility({}), Clock()
    quotas = _quotas(visibility, clock, TenantQuota(start_rate=2, start_burst=3))
    for _ in range(3):
        await quotas.check("acme")
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.check("acme")
    assert str(caught.value) == (
        "tenant acme: more than 2 StartAgent calls per second (bursts of 3), the limit of "
        "STIGMA_API_TENANT_START_RATE: retry in 0.50 s"
    )
    await quotas.check("beta")  # another tenant has its own bucket
    clock.now += 0.5
    await quotas.check("acme")
    assert visibility.queries == []  # no running limit: visibility is never asked


async def test_a_tenant_exception_overrides_the_default_and_is_named() -> None:
    settings = ApiSettings.model_validate(
        {
            "CALLBACK_KEYS": CALLBACK_KEYS,
            "tenant_max_running": 100,
            "tenant_quotas": {"small": {"max_running": 1}},
        }
    )
    default, overrides = tenant_quotas(settings)
    visibility, clock = FakeVisibility({"small": 1, "acme": 1}), Clock()
    quotas = _quotas(visibility, clock, default, **overrides)
    await quotas.check("acme")
    with pytest.raises(QuotaExceeded) as caught:
        await quotas.check("small")
    assert str(caught.value) == (
        'tenant small: 1 running agents, the limit is 1 (STIGMA_API_TENANT_QUOTAS["small"]'
        ".max_running): retry later"
    )


def _settings(**values: Any) -> ApiSettings:
    return ApiSettings.model_validate({"CALLBACK_KEYS": CALLBACK_KEYS, **values})


async def test_a_server_without_caller_authentication_does_not_start() -> None:
    with pytest.raises(SettingsLoadError, match=r"^no caller authentication is configured"):
        async with authenticator(_settings()):
            pass


async def test_anonymous_must_be_asked_for_and_keys_files_are_read(tmp_path: Path) -> None:
    async with authenticator(_settings(allow_anonymous=True, anonymous_tenant="lab")) as callers:
        assert callers.anonymous is not None
        assert callers.anonymous.tenant == "lab"
    keys = tmp_path / "keys"
    keys.write_text(digest_entry("svc", "acme", "", "a-key-of-enough-length") + "\n")
    async with authenticator(_settings(api_keys_file=str(keys))) as callers:
        assert callers.api_keys is not None
        assert callers.api_keys.lookup("a-key-of-enough-length") is not None
        assert callers.anonymous is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"jwt_issuer": "https://id"}, "STIGMA_API_JWT_AUDIENCE, STIGMA_API_JWT_JWKS: must be set"),
        (
            {"jwt_issuer": "i", "jwt_audience": "a", "jwt_jwks": "/nowhere.json"},
            "STIGMA_API_JWT_JWKS: cannot read '/nowhere.json'",
        ),
        (
            {"jwt_issuer": "i", "jwt_audience": "a", "jwt_jwks": "x", "jwt_algorithms": "HS256"},
            "STIGMA_API_JWT_ALGORITHMS: HS256 is never accepted",
        ),
        ({"api_keys_file": "/nowhere"}, "STIGMA_API_API_KEYS_FILE: cannot read '/nowhere'"),
        ({"api_keys": "x:y"}, "STIGMA_API_API_KEYS: STIGMA_API_API_KEYS entry 1: an entry is"),
        (
            {"tls_client_principals": "w:t::spiffe://x"},
            "STIGMA_API_TLS_CLIENT_PRINCIPALS: needs STIGMA_API_TLS_CLIENT_CA_PATH",
        ),
    ],
)
async def test_bad_auth_settings_name_the_variable(values: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsLoadError) as caught:
        async with authenticator(_settings(**values)):
            pass
    assert str(caught.value).startswith(message)


def test_tenant_names_in_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="is not a tenant name"):
        _settings(tenant_quotas={"bad name": {"max_running": 1}})
    with pytest.raises(ValueError, match="must be 1-63 letters"):
        _settings(anonymous_tenant="x'y")
