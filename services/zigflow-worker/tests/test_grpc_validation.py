"""call: grpc at load time: the proto file is found, compiled by protoc, and the method checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from zigflow.cli import main as zigflow_cli
from zigflow.dsl import DefinitionError, load_document
from zigflow.dsl.tasks.grpc_calls import GrpcTarget
from zigflow.grpc_protos import ProtoError, resolve_proto_path

HEADER = 'document:\n  dsl: "1.0.0"\n  namespace: t\n  name: shop\n  version: "1"\ndo:\n'


def definition(
    tmp_path: Path,
    *,
    endpoint: str = "protos/shop.proto",
    service: str = "shop.v1.Shop",
    method: str = "GetItem",
    arguments: str = '{ item_id: "${ .id }", withPrice: true }',
    port: str = "${ .port }",
) -> Path:
    body = (
        "  - item:\n"
        "      call: grpc\n"
        "      with:\n"
        "        proto:\n"
        f"          endpoint: {endpoint}\n"
        "        service:\n"
        f"          name: {service}\n"
        "          host: ${ .host }\n"
        f"          port: {port}\n"
        f"        method: {method}\n"
        f"        arguments: {arguments}\n"
    )
    path = tmp_path / "shop.yaml"
    path.write_text(HEADER + body)
    return path


def refuse(path: Path) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        load_document(path)
    return caught.value


def test_a_relative_proto_path_starts_at_the_document_folder(
    tmp_path: Path, shop_proto: Path
) -> None:
    # Imports (types/money.proto) resolve from the proto's folder, well-known types from
    # grpc_tools; the working directory plays no part.
    document = load_document(definition(tmp_path))
    (task,) = document.tasks
    assert task.body.call == "grpc"
    assert isinstance(task.body.grpc, GrpcTarget)
    assert task.body.grpc.proto == "protos/shop.proto"


def test_an_absolute_path_and_a_file_uri_name_the_same_proto(
    tmp_path: Path, shop_proto: Path
) -> None:
    load_document(definition(tmp_path, endpoint=str(shop_proto)))
    load_document(definition(tmp_path, endpoint=shop_proto.as_uri()))
    load_document(definition(tmp_path, endpoint=f"{{ uri: {shop_proto.as_uri()} }}"))


def test_resolve_proto_path() -> None:
    base = Path("/defs")
    assert resolve_proto_path("protos/a.proto", base) == Path("/defs/protos/a.proto")
    assert resolve_proto_path("../a.proto", base) == Path("/a.proto")
    assert resolve_proto_path("/p/a.proto", base) == Path("/p/a.proto")
    assert resolve_proto_path("file:///p/my%20a.proto", base) == Path("/p/my a.proto")
    for remote in ("https://example.com/a.proto", "file://host/a.proto"):
        with pytest.raises(ProtoError, match="local"):
            resolve_proto_path(remote, base)


def test_a_missing_proto_file_is_refused_with_its_line(tmp_path: Path) -> None:
    error = refuse(definition(tmp_path, endpoint="protos/none.proto"))
    assert (error.path, error.line) == ("$.do[0].item.with.proto.endpoint", 11)
    assert f"proto file {tmp_path / 'protos' / 'none.proto'} does not exist" in error.problem


def test_a_remote_proto_is_refused(tmp_path: Path) -> None:
    error = refuse(definition(tmp_path, endpoint="https://example.com/shop.proto"))
    assert error.path == "$.do[0].item.with.proto.endpoint"
    assert "only local proto files" in error.problem


def test_a_proto_that_does_not_compile_is_refused_with_protoc_s_message(
    tmp_path: Path, shop_proto: Path
) -> None:
    shop_proto.write_text(shop_proto.read_text().replace("Money price = 3;", "Price price = 3;"))
    error = refuse(definition(tmp_path))
    assert error.path == "$.do[0].item.with.proto.endpoint"
    assert "does not compile" in error.problem
    assert 'protos/shop.proto:20:3: "Price" is not defined.' in error.problem


def test_a_missing_import_is_a_compile_error(tmp_path: Path, shop_proto: Path) -> None:
    (shop_proto.parent / "types" / "money.proto").unlink()
    error = refuse(definition(tmp_path))
    assert "types/money.proto: File not found." in error.problem


def test_an_unknown_service_points_at_the_service_name(tmp_path: Path, shop_proto: Path) -> None:
    error = refuse(definition(tmp_path, service="Shop"))
    assert (error.path, error.line) == ("$.do[0].item.with.service.name", 13)
    assert error.problem == "service 'Shop' is not in the proto (services: shop.v1.Shop)"


def test_an_unknown_method_points_at_the_method(tmp_path: Path, shop_proto: Path) -> None:
    error = refuse(definition(tmp_path, method="GetItems"))
    assert (error.path, error.line) == ("$.do[0].item.with.method", 16)
    assert error.problem == (
        "shop.v1.Shop has no method 'GetItems' (methods: GetItem, PutItems, WatchItem)"
    )


@pytest.mark.parametrize(("method", "kind"), [("WatchItem", "a server"), ("PutItems", "a client")])
def test_streaming_methods_are_refused(
    tmp_path: Path, shop_proto: Path, method: str, kind: str
) -> None:
    error = refuse(definition(tmp_path, method=method))
    assert error.path == "$.do[0].item.with.method"
    assert error.problem == (
        f"shop.v1.Shop/{method} is {kind} streaming method; only unary methods are supported"
    )


def test_an_argument_the_request_has_no_field_for_is_refused(
    tmp_path: Path, shop_proto: Path
) -> None:
    error = refuse(definition(tmp_path, arguments="{ itemId: x, colour: red }"))
    assert error.path == "$.do[0].item.with.arguments.colour"
    assert "shop.v1.GetItemRequest has no field 'colour'" in error.problem


@pytest.mark.parametrize(
    ("changes", "path", "problem"),
    [
        ({"method": "${ .method }"}, "$.do[0].item.with.method", "must be a literal string"),
        ({"service": "''"}, "$.do[0].item.with.service.name", "is required"),
        ({"port": "70000"}, "$.do[0].item.with.service.port", "must be a port number"),
        ({"port": "'50051'"}, "$.do[0].item.with.service.port", "must be a port number"),
        ({"arguments": "[1]"}, "$.do[0].item.with.arguments", "must be a map"),
    ],
)
def test_bad_fields_name_their_json_path(
    tmp_path: Path, shop_proto: Path, changes: dict[str, str], path: str, problem: str
) -> None:
    error = refuse(definition(tmp_path, **changes))
    assert error.path == path
    assert problem in error.problem


def test_authentication_is_refused(tmp_path: Path, shop_proto: Path) -> None:
    path = definition(tmp_path)
    text = path.read_text().replace(
        "          name: shop.v1.Shop\n",
        "          name: shop.v1.Shop\n          authentication: { bearer: { token: t } }\n",
    )
    path.write_text(text)
    error = refuse(path)
    assert (error.path, error.problem) == (
        "$.do[0].item.with.service.authentication",
        "is not supported yet",
    )


def test_zigflow_validate_reports_file_line_and_path(
    tmp_path: Path, shop_proto: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = definition(tmp_path)
    assert zigflow_cli(["validate", str(good)]) == 0
    bad = definition(tmp_path, method="Watch")
    assert zigflow_cli(["validate", str(bad)]) == 1
    assert f"INVALID {bad}:16: $.do[0].item.with.method: shop.v1.Shop has no method 'Watch'" in (
        capsys.readouterr().err
    )
