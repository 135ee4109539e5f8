from __future__ import annotations

import asyncio
import json
import logging
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from devstack._alerting import RULE_FILES, local_runbook_base_url, write_rules
from devstack._lifecycle import Startable
from devstack._private import private_dir, write_private
from devstack._processes import ServiceProcess, StartupError, http_ready
from devstack._temporal import free_port

logger = logging.getLogger(__name__)


def prometheus_config(
    targets: Mapping[str, str | Sequence[str]],
    *,
    rule_files: Sequence[Path] = RULE_FILES,
    scrape_interval: str = "5s",
    alertmanager: str | None = None,
) -> dict[str, Any]:
    """The local-process variant of prometheus/prometheus.local.yml: one job per target
    (job name = service name, ``temporal`` for the server), the repository's alert rules,
    and the Alertmanager (``host:port``) to send alerts to, if any. A job's targets are
    one ``host:port`` or a list of them (a service's replicas)."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(path) for path in rule_files],
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    config["scrape_configs"] = [
        {
            "job_name": job,
            "static_configs": [{"targets": [target] if isinstance(target, str) else list(target)}],
        }
        for job, target in targets.items()
    ]
    return config


class PrometheusQueryError(ValueError):
    """Prometheus refused a query (HTTP 400); the message carries its explanation."""


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise StartupError("prometheus is missing: apt-get install prometheus")
    return found


class LocalPrometheus(Startable):
    """Debian's ``prometheus`` on 127.0.0.1 with its TSDB under ``state_dir``.

    Without ``rule_files`` it loads prometheus/rules rendered into ``state_dir/rules`` with
    ``RUNBOOK_BASE_URL`` (default: the checkout's docs/runbook.md as a file:// URL), so the
    alerts' runbook links are absolute and open on this machine.
    """

    def __init__(
        self,
        *,
        state_dir: Path,
        targets: Mapping[str, str | Sequence[str]],
        port: int | None = None,
        scrape_interval: str = "5s",
        rule_files: Sequence[Path] | None = None,
        alertmanager: str | None = None,
    ) -> None:
        self.port = port or free_port()
        self.state_dir = state_dir
        self.config_file = state_dir / "prometheus.yml"
        if rule_files is None:
            rule_files = write_rules(
                private_dir(state_dir) / "rules", runbook_base_url=local_runbook_base_url()
            )
        self._config = prometheus_config(
            targets,
            rule_files=rule_files,
            scrape_interval=scrape_interval,
            alertmanager=alertmanager,
        )
        self.process = ServiceProcess(
            name="prometheus",
            argv=[
                prometheus_binary(),
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={state_dir / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            env={},
            log_file=state_dir / "logs" / "prometheus.log",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as reply:
                body = reply.read()
        except urllib.error.HTTPError as err:
            if err.code != 400:
                raise
            raise PrometheusQueryError(
                f"{path} {dict(params or {})}: {err.read().decode()}"
            ) from None
        return json.loads(body) if path.startswith("/api/") else body.decode()

    async def api(self, path: str, **params: str) -> Any:
        """GET a Prometheus HTTP API path; the decoded ``data`` of a successful answer."""
        answer = await asyncio.to_thread(self._get, path, params)
        if answer.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {answer}")
        return answer["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (raises on a bad expression)."""
        data = await self.api("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def start(self, *, ready_within: float = 30.0) -> None:
        private_dir(self.state_dir)
        write_private(self.config_file, yaml.safe_dump(self._config, sort_keys=False))
        await self.process.start()
        await self.process.wait_until(
            lambda: http_ready(f"{self.url}/-/ready"),
            what=f"prometheus on {self.url}",
            within=ready_within,
        )
        logger.info("Prometheus on %s", self.url)

    async def stop(self) -> None:
        await self.process.stop()
