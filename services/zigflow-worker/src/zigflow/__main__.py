from __future__ import annotations

from service_kit import run_service
from zigflow.settings import ZigflowSettings
from zigflow.worker import serve


def run() -> None:
    run_service(service="zigflow-worker", settings=ZigflowSettings, serve=serve)


if __name__ == "__main__":
    run()
