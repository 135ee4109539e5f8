"""Shared fixtures of the zigflow-worker unit tests: a small proto tree for call: grpc, and
documents run in-process on a Temporal dev server (zigflow.testing) with a pet store."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from temporalio.testing import WorkflowEnvironment

from zigflow.testing import DocumentRunner, local_temporal

SHOP_PROTO = """syntax = "proto3";
package shop.v1;

import "google/protobuf/timestamp.proto";
import "types/money.proto";

enum Kind {
  KIND_UNSPECIFIED = 0;
  BOOK = 1;
}

message GetItemRequest {
  string item_id = 1;
  bool with_price = 2;
}

message Item {
  string item_id = 1;
  int64 quantity = 2;
  Money price = 3;
  Kind kind = 4;
  repeated string tags = 5;
  google.protobuf.Timestamp added_at = 6;
}

service Shop {
  rpc GetItem(GetItemRequest) returns (Item);
  rpc WatchItem(GetItemRequest) returns (stream Item);
  rpc PutItems(stream Item) returns (Item);
}
"""
MONEY_PROTO = """syntax = "proto3";
package shop.v1;

message Money {
  string currency_code = 1;
  int64 units = 2;
}
"""


def write_protos(folder: Path) -> Path:
    (folder / "types").mkdir(parents=True)
    (folder / "types" / "money.proto").write_text(MONEY_PROTO)
    shop = folder / "shop.proto"
    shop.write_text(SHOP_PROTO)
    return shop


@pytest.fixture
def shop_proto(tmp_path: Path) -> Path:
    """protos/shop.proto (importing protos/types/money.proto) under the test's tmp_path."""
    return write_protos(tmp_path / "protos")


# In-process runs (zigflow.testing) ------------------------------------------------------


@pytest.fixture(scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    """One Temporal dev server per test process, for documents run in-process."""
    async with local_temporal() as env:
        yield env


@pytest.fixture(scope="session")
def runner(temporal: WorkflowEnvironment) -> DocumentRunner:
    return DocumentRunner(temporal.client)


PETS = {
    1: {"id": 1, "name": "doggie", "status": "available", "photoUrls": [], "tags": []},
    2: {"id": 2, "name": "whiskers", "status": "sold", "photoUrls": [], "tags": []},
    3: {"id": 3, "name": "rex", "status": "available", "photoUrls": [], "tags": []},
}


class PetStore:
    """The Swagger pet store's read API, which the spec's conformance scenarios call
    (no internet here): JSON pets, 404 with a JSON body for what it does not know."""

    def __init__(self) -> None:
        self.base = ""
        self.requests: list[str] = []

    def answer(self, target: str) -> tuple[int, Any]:
        split = urlsplit(target)
        parts = split.path.strip("/").split("/")
        if parts[:2] == ["v2", "pet"] and len(parts) == 3:
            if parts[2] == "findByStatus":
                wanted = parse_qs(split.query).get("status", [])
                return 200, [pet for pet in PETS.values() if pet["status"] in wanted]
            if parts[2].isdigit() and int(parts[2]) in PETS:
                return 200, PETS[int(parts[2])]
        return 404, {"code": 404, "type": "unknown", "message": f"no {split.path}"}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode()
            self.requests.append(target)
            status, body = self.answer(target)
            data = json.dumps(body).encode()
            writer.write(
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n".encode()
                + b"Content-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        writer.close()


@pytest.fixture(scope="session")
async def pet_store() -> AsyncIterator[PetStore]:
    store = PetStore()
    server = await asyncio.start_server(store.handle, "127.0.0.1", 0)
    store.base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield store
    finally:
        server.close()


@pytest.fixture
def petstore(pet_store: PetStore) -> str:
    """The pet store's base URL (``https://petstore.swagger.io`` in the kit)."""
    return pet_store.base


@pytest.fixture
def petstore_requests(pet_store: PetStore) -> list[str]:
    """The paths (with their query) the pet store was asked for, in order."""
    return pet_store.requests
