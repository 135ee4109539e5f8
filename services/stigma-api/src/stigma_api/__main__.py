from __future__ import annotations

from service_kit import run_service
from stigma_api.server import serve
from stigma_api.settings import ApiSettings


def run() -> None:
    run_service(service="stigma-api", settings=ApiSettings, serve=serve)


if __name__ == "__main__":
    run()
