"""The default Alertmanager receiver takes Alertmanager's webhook and serves the runbook."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from service_kit.alert_sink import AlertSink, settings_from_env

NOTIFICATION = {
    "version": "4",
    "receiver": "operator",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ServiceDown", "job": "ai-worker"},
            "annotations": {"runbook_url": "http://localhost:9095/runbook#servicedown"},
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
        }
    ],
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _request(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


async def test_each_alert_of_a_notification_is_one_json_line_and_the_runbook_is_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runbook = tmp_path / "runbook.md"
    runbook.write_text("# Runbook\n## ServiceDown\n")
    async with AlertSink(host="127.0.0.1", port=_free_port(), runbook=runbook) as sink:
        status, _ = await asyncio.to_thread(
            _request, f"{sink.url}/alerts", json.dumps(NOTIFICATION).encode()
        )
        assert status == 200
        assert await asyncio.to_thread(_request, f"{sink.url}/runbook") == (
            200,
            runbook.read_bytes(),
        )
        assert (await asyncio.to_thread(_request, f"{sink.url}/-/healthy"))[0] == 200
        assert (await asyncio.to_thread(_request, f"{sink.url}/alerts", b"{not json"))[0] == 400
        assert (await asyncio.to_thread(_request, f"{sink.url}/nothing"))[0] == 404
    line = json.loads(capsys.readouterr().out.strip())
    assert line["alertname"] == "ServiceDown"
    assert line["status"] == "firing"
    assert line["labels"]["job"] == "ai-worker"
    assert line["annotations"]["runbook_url"].endswith("#servicedown")


def test_settings_name_the_bad_variable(tmp_path: Path) -> None:
    assert settings_from_env({}) == ("127.0.0.1", 9095, None)
    runbook = tmp_path / "runbook.md"
    runbook.write_text("x")
    assert settings_from_env(
        {"ALERT_SINK_LISTEN_ADDRESS": "0.0.0.0:1", "ALERT_SINK_RUNBOOK": str(runbook)}
    ) == ("0.0.0.0", 1, runbook)
    with pytest.raises(SystemExit, match="ALERT_SINK_LISTEN_ADDRESS"):
        settings_from_env({"ALERT_SINK_LISTEN_ADDRESS": "nope"})
    with pytest.raises(SystemExit, match="ALERT_SINK_RUNBOOK"):
        settings_from_env({"ALERT_SINK_RUNBOOK": str(tmp_path / "missing.md")})
