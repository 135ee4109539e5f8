"""The proto files behind ``call: grpc``: where they are, and their compiled descriptors.

A ``call: grpc`` task names its proto file in ``with.proto.endpoint``: a path relative to
the document's folder, an absolute path, or a ``file://`` URI. Nothing is fetched over the
network. The file is compiled with ``grpc_tools.protoc`` (its bundled well-known types are on
the include path, and so is the proto's own folder, which is where its imports resolve) into
a ``FileDescriptorSet``, from which the request and response message classes are built.

protoc runs as a child process: its diagnostics (``file:line:column: message``) are written
to its standard error, which a child process lets us capture and report.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

# Compiling a proto is quick; a protoc that hangs must not hang a load or an activity.
PROTOC_TIMEOUT_S = 60.0


class ProtoError(ValueError):
    """A proto file that cannot back a ``call: grpc`` task; the message says why."""


class UnknownServiceError(ProtoError):
    """The proto defines no service of that name."""


def resolve_proto_path(endpoint: str, base_dir: Path) -> Path:
    """The absolute local path named by ``with.proto.endpoint``.

    Relative paths are relative to ``base_dir`` (the document's folder). Only local files
    are accepted: a URI with any scheme other than ``file`` raises ``ProtoError``.
    """
    parsed = urlparse(endpoint)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ProtoError(f"{endpoint!r}: a file:// URI must name a local file")
        path = Path(unquote(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:  # "C:" would be a drive, not a scheme
        raise ProtoError(
            f"{endpoint!r}: only local proto files are supported (a path or a file:// URI)"
        )
    else:
        path = Path(endpoint)
    if not path.is_absolute():
        path = base_dir / path
    return Path(os.path.normpath(path.absolute()))


def compile_proto(path: Path) -> descriptor_pb2.FileDescriptorSet:
    """The proto file and everything it imports, compiled. Raises ``ProtoError``."""
    if not path.is_file():
        raise ProtoError(f"proto file {path} does not exist")
    well_known = files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory(prefix="zigflow-proto-") as scratch:
        out = Path(scratch) / "descriptors.pb"
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={path.parent}",
            f"--proto_path={well_known}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            path.name,
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PROTOC_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise ProtoError(f"protoc did not finish within {PROTOC_TIMEOUT_S:.0f}s") from None
        if done.returncode != 0 or not out.is_file():
            problems = done.stderr.strip() or f"protoc exited with {done.returncode}"
            raise ProtoError(f"{path.name} does not compile: {problems}")
        descriptors = descriptor_pb2.FileDescriptorSet()
        descriptors.ParseFromString(out.read_bytes())
    return descriptors


@dataclass(frozen=True)
class UnaryMethod:
    """A unary-unary method of a compiled proto, with its message classes."""

    service: str
    """The fully qualified service name (``grpc.health.v1.Health``)."""
    name: str
    """The method name (``Check``)."""
    request: type[Message]
    response: type[Message]

    @property
    def path(self) -> str:
        """The method's gRPC path (``/grpc.health.v1.Health/Check``)."""
        return f"/{self.service}/{self.name}"


# (absolute path, mtime, size) -> the compiled file; see ``CompiledProto.load``.
_LOADED: dict[tuple[Path, int, int], CompiledProto] = {}


class CompiledProto:
    """The descriptors of one compiled proto file, in a pool of their own."""

    def __init__(self, descriptors: descriptor_pb2.FileDescriptorSet) -> None:
        self._pool = descriptor_pool.DescriptorPool()
        for file in descriptors.file:
            self._pool.Add(file)
        self.services = sorted(
            f"{file.package}.{service.name}" if file.package else service.name
            for file in descriptors.file[-1:]
            for service in file.service
        )

    @classmethod
    def load(cls, path: Path) -> CompiledProto:
        """Compiled once per process for each version of the file: the tasks of a document
        that call the same proto, and the activity after the load-time check, share it."""
        try:
            stat = path.stat()
        except OSError:
            return cls(compile_proto(path))  # compile_proto names what is wrong
        key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
        compiled = _LOADED.get(key)
        if compiled is None:
            compiled = _LOADED[key] = cls(compile_proto(path))
        return compiled

    def unary_method(self, service: str, method: str) -> UnaryMethod:
        """The method, or ``ProtoError`` naming what is wrong (unknown service or method,
        a streaming method)."""
        try:
            found = self._pool.FindServiceByName(service)
        except KeyError:
            known = ", ".join(self.services) or "none"
            problem = f"service {service!r} is not in the proto (services: {known})"
            raise UnknownServiceError(problem) from None
        descriptor: MethodDescriptor | None = found.methods_by_name.get(method)
        if descriptor is None:
            known = ", ".join(sorted(found.methods_by_name)) or "none"
            raise ProtoError(f"{service} has no method {method!r} (methods: {known})")
        streaming = [
            side
            for side, flag in (
                ("client", descriptor.client_streaming),
                ("server", descriptor.server_streaming),
            )
            if flag
        ]
        if streaming:
            raise ProtoError(
                f"{service}/{method} is a {' and '.join(streaming)} streaming method; "
                "only unary methods are supported"
            )
        return UnaryMethod(
            service=service,
            name=method,
            request=message_factory.GetMessageClass(descriptor.input_type),
            response=message_factory.GetMessageClass(descriptor.output_type),
        )


def message_from(method: UnaryMethod, arguments: dict[str, Any]) -> Message:
    """The request message built from ``with.arguments`` (proto3 JSON mapping: proto or
    JSON field names). Raises ``json_format.ParseError`` naming a field that does not fit."""
    return json_format.ParseDict(arguments, method.request())


def message_to_json(message: Message) -> dict[str, Any]:
    """The response as the task output: the proto3 JSON mapping with the proto's own field
    names (``serving_status``, as written in the .proto), enums by name, and every field,
    even one left at its default (so ``${ .status }`` is never missing)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
