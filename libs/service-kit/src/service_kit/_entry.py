from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from service_kit._exit import exit_process
from service_kit._logs import configure_logging
from service_kit._settings import ServiceSettings, SettingsLoadError, load_settings
from service_kit._temporal import TemporalConnectionError

S = TypeVar("S", bound=ServiceSettings)


def run_service(
    *,
    service: str,
    settings: type[S],
    serve: Callable[[S], Coroutine[Any, Any, None]],
) -> None:
    """A service's whole ``main``: settings, JSON logs, then ``serve`` until SIGTERM.

    Configuration and connection problems end the process with one readable line
    and exit code 2 instead of a traceback. Whatever the outcome, the process ends
    through ``exit_process``: never in the interpreter's teardown, where the Temporal
    client's threads can abort it.
    """
    try:
        loaded = load_settings(settings)
    except SettingsLoadError as err:
        sys.exit(f"{service}: {err}")
    configure_logging(service=service, level=loaded.log_level)
    try:
        asyncio.run(serve(loaded))
    except (SettingsLoadError, TemporalConnectionError) as err:
        print(f"{service}: {err}", file=sys.stderr)
        exit_process(2)
    except Exception:
        traceback.print_exc()
        exit_process(1)
    exit_process(0)
