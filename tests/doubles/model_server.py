"""A local stand-in for the OpenAI and Anthropic model APIs, scripted per request by the test.

In process (the usual way)::

    async with ModelServer() as server:
        server.enqueue(Reply(text="Hello", stream_time=timedelta(seconds=0.3)))
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0)
        ...
        request = await server.wait_ended(0)

As a separate process, so a test can kill and restart it (`model_server_process` runs this)::

    python -m tests.doubles.model_server --port N --script script.json --record requests.jsonl

The script file is a JSON `Script` (`{"replies": [...], "default": {...}, "api_key": ...}`,
durations as seconds or ISO 8601, each fault with its `"kind"`, e.g.
`{"kind": "http_error", "status": 429, "retry_after": 3}`). The process prints
`READY http://127.0.0.1:PORT` on stdout once it accepts connections, appends one JSON line per
request to the record file, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence
from pathlib import Path

from tests.doubles._model_process import SCRIPT, ModelServerProcess, model_server_process
from tests.doubles._process import announce
from tests.doubles._recording import Api, Outcome, RecordedRequest
from tests.doubles._script import (
    CutStream,
    GarbageBody,
    HttpError,
    MalformedStream,
    Reply,
    Script,
    StreamError,
    ToolCall,
    Usage,
    filler_text,
)
from tests.doubles._server import ModelServer

__all__ = [
    "Api",
    "CutStream",
    "GarbageBody",
    "HttpError",
    "MalformedStream",
    "ModelServer",
    "ModelServerProcess",
    "Outcome",
    "RecordedRequest",
    "Reply",
    "Script",
    "StreamError",
    "ToolCall",
    "Usage",
    "filler_text",
    "model_server_process",
]


async def _serve(port: int, script: Script, record_path: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = ModelServer(
        api_key=script.api_key, default_reply=script.default, port=port, record_path=record_path
    )
    server.enqueue(*script.replies)
    async with server:
        announce(server.url)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.doubles.model_server", description=__doc__
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 for a free one")
    parser.add_argument("--script", type=Path, help="JSON Script: replies, default, api_key")
    parser.add_argument("--record", type=Path, help="append one JSON line per request here")
    args = parser.parse_args(argv)
    script = SCRIPT.validate_json(args.script.read_bytes()) if args.script else Script()
    asyncio.run(_serve(args.port, script, args.record))


if __name__ == "__main__":
    main()
