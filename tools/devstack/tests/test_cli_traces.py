"""Which trace viewer ``make up`` and ``make demo`` start: Phoenix by default, none with
--no-traces or OTEL_SDK_DISABLED, and none when the environment already names an OTLP
endpoint (the services export there, and the banner says so)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import cli
from devstack._phoenix import DEFAULT_GRPC_PORT, DEFAULT_PORT


@pytest.fixture(autouse=True)
def no_otel_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_SDK_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("command", ["demo", "up", "serve"])
def test_phoenix_by_default_under_the_state_folder_on_its_usual_ports(
    command: str, tmp_path: Path
) -> None:
    args = cli.parser().parse_args(["--state-dir", str(tmp_path), command])
    viewer = cli._trace_viewer(args)
    assert viewer is not None
    assert (viewer.state_dir, viewer.port, viewer.grpc_port) == (
        tmp_path / "phoenix",
        DEFAULT_PORT,
        DEFAULT_GRPC_PORT,
    )
    config = cli._config(args, viewer)
    assert config.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://127.0.0.1:{DEFAULT_GRPC_PORT}"
    assert cli._traces_line(viewer).startswith(f"traces        http://127.0.0.1:{DEFAULT_PORT}")


@pytest.mark.parametrize("command", ["demo", "up", "serve"])
def test_no_traces_starts_no_viewer_and_sets_no_endpoint(command: str) -> None:
    args = cli.parser().parse_args([command, "--no-traces"])
    assert cli._trace_viewer(args) is None
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in cli._config(args, None).env
    assert cli._traces_line(None) == "traces        off"
    assert not cli._traced(None)  # the demo prints no trace id no log line carries


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
def test_an_endpoint_of_your_own_is_kept(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, "http://collector.internal:4317")
    args = cli.parser().parse_args(["up"])
    assert cli._trace_viewer(args) is None
    # The services inherit the environment: the stack adds no endpoint of its own.
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in cli._config(args, None).env
    assert "exported to http://collector.internal:4317" in cli._traces_line(None)
    assert cli._traced(None)


def test_otel_sdk_disabled_means_no_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.internal:4317")
    assert cli._trace_viewer(cli.parser().parse_args(["demo"])) is None
    assert cli._traces_line(None) == "traces        off"
    assert not cli._traced(None)
