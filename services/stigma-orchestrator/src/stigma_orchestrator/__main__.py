from __future__ import annotations

from service_kit import run_service
from stigma_orchestrator.settings import OrchestratorSettings
from stigma_orchestrator.worker import serve


def run() -> None:
    run_service(service="stigma-orchestrator", settings=OrchestratorSettings, serve=serve)


if __name__ == "__main__":
    run()
