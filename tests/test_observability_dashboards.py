"""Grafana dashboards are checked against a real Prometheus that scraped a real run: every
query of every panel (template variables filled in) runs and returns data, except panels
marked ``Rare event:``. The JSON is structurally sound and uses provisioned datasources."""

from __future__ import annotations

import itertools
import json
import math
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from temporalio.client import WorkflowFailureError

from agent_contract import PENDING_CALLBACKS_QUERY as PENDING_QUERY
from devstack import LocalPrometheus
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from tests.observability_support import Observed
from tests.support import eventually, start_dsl, unique

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
KNOWN_PANEL_TYPES = {
    "timeseries", "stat", "gauge", "bargauge", "table", "text", "row", "heatmap", "piechart",
    "logs", "traces", "nodeGraph",
}  # fmt: skip
RARE_EVENT = "Rare event:"
# What Grafana substitutes for its built-in interval variables, sized for a short test run.
BUILTINS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows
    return panels


def _provisioned_uids() -> set[str]:
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/datasources.yml").read_text())
    return {source["uid"] for source in config["datasources"]}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_json_is_structurally_valid(path: Path) -> None:
    dashboard = _load(path)
    assert dashboard["uid"]
    assert dashboard["title"]
    panels = _panels(dashboard)
    ids = [panel["id"] for panel in panels]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["type"] in KNOWN_PANEL_TYPES, panel["type"]
        assert panel["title"], panel["id"]
        grid = panel["gridPos"]
        x, y, w, h = (grid[k] for k in ("x", "y", "w", "h"))
        assert all(isinstance(v, int) for v in (x, y, w, h)), panel["title"]
        assert min(x, y) >= 0, panel["title"]
        assert min(w, h) > 0, panel["title"]
        assert x + w <= 24, panel["title"]
        mine = set(itertools.product(range(x, x + w), range(y, y + h)))
        assert not cells & mine, f"{panel['title']!r} overlaps another panel"
        cells |= mine
        for target in panel.get("targets", []):
            assert target["refId"], panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_dashboard_uids_are_unique_and_datasources_provisioned() -> None:
    provisioned = _provisioned_uids()
    assert {"prometheus", "tempo"} <= provisioned
    dashboards = [_load(path) for path in DASHBOARDS]
    assert {d["title"] for d in dashboards} >= {"Agent handshake", "Temporal workers"}
    assert len({d["uid"] for d in dashboards}) == len(dashboards)
    for dashboard in dashboards:
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        # $datasource picks among provisioned Prometheus datasources, the provisioned one
        # by default; $namespace narrows the Temporal SDK's series.
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["datasource"]["current"]["value"] in provisioned
        assert "namespace" in variables
        sources = [v.get("datasource") for v in variables.values()]
        for panel in _panels(dashboard):
            sources.append(panel.get("datasource"))
            sources.extend(target.get("datasource") for target in panel.get("targets", []))
        for source in filter(None, sources):
            if source["type"] == "prometheus":
                assert source["uid"] == "${datasource}", f"{dashboard['title']}: {source}"
            else:
                assert source["uid"] in provisioned, f"{dashboard['title']}: {source}"
        for panel in _panels(dashboard):
            if panel["type"] == "stat":
                steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
                assert steps[0]["value"] is None, panel["title"]


def _pending_links() -> list[str]:
    dashboard = _load(GRAFANA / "dashboards" / "agent-handshake.json")
    links = [link["url"] for link in dashboard["links"]]
    for panel in _panels(dashboard):
        links.extend(link["url"] for link in panel["fieldConfig"]["defaults"].get("links", []))
    return [url for url in links if url.startswith("${temporal_ui}/namespaces/")]


def test_pending_links_ask_temporal_what_the_gauge_counts() -> None:
    """The Temporal UI links filter with the very visibility query stigma-api's gauge reads."""
    links = _pending_links()
    assert len(links) >= 3  # the dashboard's, and the two pending stat panels'
    for url in links:
        path, _, query = url.partition("?")
        assert path == "${temporal_ui}/namespaces/${namespace}/workflows"
        assert urllib.parse.parse_qs(query) == {"query": [PENDING_QUERY]}


@pytest.fixture(scope="module")
async def prometheus(
    observed: Observed, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalPrometheus]:
    async with LocalPrometheus(
        state_dir=tmp_path_factory.mktemp("prometheus"),
        targets=observed.stack.metrics_targets(),
        scrape_interval="1s",
    ) as running:
        targets = len(observed.stack.metrics_targets())

        async def scraping() -> bool:
            return len(await running.query("up == 1")) == targets

        await eventually(scraping, within=30)
        yield running


async def _workload(observed: Observed) -> None:
    """Successes, a failure, fire-and-forget, a refused token, and a call that outlives its
    first keeper beat (6 s heartbeat timeout: beaten from 1 s on)."""
    client = observed.stack.client
    ok = await start_dsl(client, "observed-call", {"input": "chart", "parameters": {"steps": "2"}})
    failing = await start_dsl(client, "failing-agent", {"question": "chart a failure"})
    beaten = await start_dsl(
        client, "reliability-fast", {"input": "beaten", "parameters": {"delay_ms": "3000"}}
    )
    await ok.result()
    await beaten.result()
    with pytest.raises(WorkflowFailureError):
        await failing.result()
    async with observed.stack.stigma_channel() as channel:
        stigma = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
        spec = agent_pb2.AgentSpec(input="chart", model="scripted:echo")
        ack = await stigma.StartAgent(
            agent_pb2.StartAgentRequest(request_id=unique("ff"), spec=spec)
        )

        async def ff_finished() -> bool:  # leave nothing running for the next test
            reply = await stigma.GetExecution(
                agent_pb2.GetExecutionRequest(execution_id=ack.execution_id)
            )
            return bool(reply.execution.phase == agent_pb2.EXECUTION_PHASE_COMPLETED)

        await eventually(ff_finished)
        with pytest.raises(grpc.aio.AioRpcError):
            await stigma.StartAgent(
                agent_pb2.StartAgentRequest(
                    request_id=unique("bad"), spec=spec, callback_token=b"\x00forged"
                )
            )


async def _scraped(prometheus: LocalPrometheus, expr: str) -> float:
    result = await prometheus.query(expr)
    return float(result[0]["value"][1]) if result else 0.0


def _regex_literal(value: str) -> str:
    """A label value as a PromQL regex alternative (Grafana's multi-value formatting)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\\\1", value)


def variable_query(variable: dict[str, Any], filled: dict[str, str]) -> tuple[str, str] | None:
    """The (series selector, label) a ``label_values`` variable asks Prometheus for, with
    earlier variables filled in (``$task_queue`` narrows by ``$namespace``); None for a
    datasource or textbox variable, which no query contains."""
    if variable["type"] != "query":
        return None
    query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    assert match, f"unsupported variable query {query!r}"
    metric, label = match.groups()
    return substitute(metric, filled), label


def substitute(expr: str, filled: dict[str, str]) -> str:
    """``expr`` with Grafana's interval variables and the filled template variables."""
    for name, value in BUILTINS.items():
        expr = expr.replace(name, value)
    for name, alternatives in filled.items():
        expr = expr.replace(f"${{{name}}}", alternatives).replace(f"${name}", alternatives)
    return expr


async def _fill(prometheus: LocalPrometheus, dashboard: dict[str, Any], expr: str) -> str:
    filled: dict[str, str] = {}
    for variable in dashboard["templating"]["list"]:
        if (asked := variable_query(variable, filled)) is None:
            continue
        metric, label = asked
        values = await prometheus.api(f"/api/v1/label/{label}/values", **{"match[]": metric})
        assert values, f"variable {variable['name']} has no values"
        filled[variable["name"]] = "|".join(_regex_literal(value) for value in values)
    expr = substitute(expr, filled)
    assert "$" not in expr, f"unfilled variable in {expr}"
    return expr


async def test_every_panel_query_returns_data_from_a_real_run(
    observed: Observed, prometheus: LocalPrometheus
) -> None:
    # Two rounds, each followed by a scrape of every target, so that counters and
    # histograms that appear with their first event also show an increase to rate().
    for _ in range(2):
        await _workload(observed)
        ended = time.time()

        async def scraped_since(ended: float = ended) -> bool:
            return await _scraped(prometheus, "min(timestamp(up))") > ended

        await eventually(scraped_since, within=30)

    checked = 0
    problems: list[str] = []
    for path in DASHBOARDS:
        dashboard = _load(path)
        for panel in _panels(dashboard):
            rare = panel.get("description", "").startswith(RARE_EVENT)
            for target in panel.get("targets", []):
                expr = await _fill(prometheus, dashboard, target["expr"])
                result = await prometheus.query(expr)  # raises on a bad expression
                checked += 1
                finite = [
                    float(sample["value"][1])
                    for sample in result
                    if not math.isnan(float(sample["value"][1]))
                ]
                if not finite and not rare:
                    problems.append(f"{dashboard['title']} / {panel['title']}: {expr}")
    assert checked >= 20
    assert not problems, "panels without data:\n" + "\n".join(problems)


async def test_the_pending_link_query_runs_on_the_real_temporal(observed: Observed) -> None:
    [url, *_] = _pending_links()
    query = urllib.parse.parse_qs(url.partition("?")[2])["query"][0]
    # Temporal parses and runs it (an unknown attribute or a syntax error raises here).
    await observed.stack.client.count_workflows(query)


async def test_alert_rules_evaluate_cleanly_on_real_data(prometheus: LocalPrometheus) -> None:
    async def evaluated() -> bool:
        groups = (await prometheus.api("/api/v1/rules"))["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        never = "0001-01-01"
        return bool(rules) and not any(rule["lastEvaluation"].startswith(never) for rule in rules)

    await eventually(evaluated, within=30)
    groups = (await prometheus.api("/api/v1/rules"))["groups"]
    unhealthy = [
        (rule["name"], rule.get("lastError"))
        for group in groups
        for rule in group["rules"]
        if rule["health"] != "ok"
    ]
    assert not unhealthy
