"""Shared fixtures of the zigflow-worker unit tests: a small proto tree for call: grpc."""

from __future__ import annotations

from pathlib import Path

import pytest

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
