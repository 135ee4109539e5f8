from __future__ import annotations

from ai_worker.settings import AiWorkerSettings
from ai_worker.worker import serve
from service_kit import run_service


def run() -> None:
    run_service(service="ai-worker", settings=AiWorkerSettings, serve=serve)


if __name__ == "__main__":
    run()
