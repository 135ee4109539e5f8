from __future__ import annotations

from service_kit import run_service

from ai_worker.settings import AiWorkerSettings
from ai_worker.worker import serve


def run() -> None:
    run_service(service="ai-worker", settings=AiWorkerSettings, serve=serve)


if __name__ == "__main__":
    run()
