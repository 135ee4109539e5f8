"""Load-time checks of ``call: grpc``: the proto file is compiled when the definition loads.

A missing proto file, one that does not compile, an unknown service or method, a streaming
method, or an argument the request message has no field for refuses the definition, with
the JSON path of the offending field (``document`` adds the file's line), e.g.
``$.do[0].check.with.method: grpc.health.v1.Health has no method 'Chek' (methods: Check)``.

``with.proto.endpoint``, ``with.service.name`` and ``with.method`` must be literal strings
(they are what is checked here); ``with.service.host``, ``with.service.port`` and the values
of ``with.arguments`` may be expressions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zigflow.dsl import expressions
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.grpc_protos import CompiledProto, ProtoError, UnknownServiceError, resolve_proto_path

_KNOWN_WITH = frozenset({"proto", "service", "method", "arguments"})


def proto_endpoint(args: dict[str, Any]) -> Any:
    """``with.proto.endpoint``: a string, or the spec's ``{uri: ...}`` endpoint map."""
    endpoint = (args.get("proto") or {}).get("endpoint")
    return endpoint.get("uri") if isinstance(endpoint, dict) else endpoint


def document_folder(source: str) -> Path:
    """Where a document's relative proto paths start: the folder of its file."""
    return Path(source).parent


def _literal(checker: LoadContext, value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise checker.fail(path, "is required for call: grpc (a string)")
    if expressions.is_expression(value):
        raise checker.fail(path, "must be a literal string (it is checked when the file loads)")
    return value


def check_grpc(checker: LoadContext, task: Task, path: str) -> None:
    where = f"{path}.with"
    args = task.get("with")
    if not isinstance(args, dict):
        raise checker.fail(where, "call: grpc needs a 'with' map")
    unknown = sorted(set(args) - _KNOWN_WITH)
    if "authentication" in unknown:
        raise checker.fail(f"{where}.authentication", "is not supported yet")
    if unknown:
        raise checker.fail(where, f"unknown fields {unknown} (known: {sorted(_KNOWN_WITH)})")
    proto = args.get("proto")
    if not isinstance(proto, dict):
        raise checker.fail(f"{where}.proto", "is required for call: grpc (a map with endpoint)")
    endpoint_path = f"{where}.proto.endpoint"
    if isinstance(proto.get("endpoint"), dict):
        if "authentication" in proto["endpoint"]:
            raise checker.fail(f"{endpoint_path}.authentication", "is not supported yet")
        endpoint_path += ".uri"
    endpoint = _literal(checker, proto_endpoint(args), endpoint_path)
    service = args.get("service")
    if not isinstance(service, dict):
        raise checker.fail(f"{where}.service", "is required for call: grpc (name, host, port)")
    if "authentication" in service:
        raise checker.fail(f"{where}.service.authentication", "is not supported yet")
    service_name = _literal(checker, service.get("name"), f"{where}.service.name")
    for key in ("host", "port"):
        if service.get(key) in (None, ""):
            raise checker.fail(f"{where}.service.{key}", "is required for call: grpc")
    port = service["port"]
    if not expressions.is_expression(port) and (
        not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
    ):
        raise checker.fail(f"{where}.service.port", "must be a port number (1-65535)")
    method_name = _literal(checker, args.get("method"), f"{where}.method")
    arguments = args.get("arguments", {})
    if not isinstance(arguments, dict):
        raise checker.fail(f"{where}.arguments", "must be a map")
    try:
        proto_path = resolve_proto_path(endpoint, document_folder(checker.source))
        compiled = CompiledProto.load(proto_path)
    except ProtoError as err:
        raise checker.fail(endpoint_path, str(err)) from None
    try:
        method = compiled.unary_method(service_name, method_name)
    except UnknownServiceError as err:
        raise checker.fail(f"{where}.service.name", str(err)) from None
    except ProtoError as err:
        raise checker.fail(f"{where}.method", str(err)) from None
    fields = method.request.DESCRIPTOR.fields
    names = {field.name for field in fields} | {field.json_name for field in fields}
    for key in arguments:
        if key not in names:
            known = sorted(field.name for field in fields) or "none"
            raise checker.fail(
                f"{where}.arguments.{key}",
                f"{method.request.DESCRIPTOR.full_name} has no field {key!r} (fields: {known})",
            )
