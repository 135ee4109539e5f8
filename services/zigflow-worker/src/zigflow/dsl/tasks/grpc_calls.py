"""``call: grpc``: evaluates the task's ``with`` and runs the CallGrpc activity.

The proto was compiled and the method checked when the definition loaded
(``dsl/grpc_validation.py``); here only the address and the arguments are evaluated. The
activity gets the proto file's absolute path, not its descriptors (see ``grpc_call.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from zigflow.dsl.errors import validation_error
from zigflow.dsl.grpc_validation import document_folder, proto_endpoint
from zigflow.dsl.model import Template
from zigflow.grpc_call import CALL_GRPC_ACTIVITY, GrpcRequest
from zigflow.grpc_protos import resolve_proto_path

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step

DEFAULT_GRPC_TIMEOUT = timedelta(minutes=1)
# Only UNAVAILABLE is retried here (every other status is a non-retryable failure).
GRPC_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_attempts=3)


@dataclass(frozen=True)
class GrpcTarget:
    """A ``call: grpc`` task's ``with``: what the load checked against the proto, and
    what is evaluated when the task runs."""

    proto: str
    """``proto.endpoint``: the proto file, relative to the document's folder."""
    service_name: str
    method: str
    service: Template
    """``service``: its ``host`` and ``port`` may be expressions."""
    arguments: Template

    @classmethod
    def of(cls, args: dict[str, Any]) -> GrpcTarget:
        """From a checked ``with`` map."""
        return cls(
            proto=str(proto_endpoint(args)),
            service_name=str(args["service"]["name"]),
            method=str(args["method"]),
            service=args["service"],
            arguments=args.get("arguments") or {},
        )


async def call_grpc(interp: Interpreter, step: Step, target: GrpcTarget, data: Any) -> Any:
    where = f"{step.reference}/with"
    service = interp.render(target.service, data, f"{where}/service", step.scope)
    arguments = interp.render(target.arguments, data, f"{where}/arguments", step.scope)
    host, port = service.get("host"), service.get("port")
    if not isinstance(host, str) or not host:
        raise validation_error(f"with.service.host must be a host name, not {host!r}", where)
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise validation_error(f"with.service.port must be a port number, not {port!r}", where)
    proto = resolve_proto_path(target.proto, document_folder(interp.document.source))
    request = GrpcRequest(
        proto=str(proto),
        service=target.service_name,
        method=target.method,
        host=host,
        port=port,
        arguments=arguments,
        instance=step.reference,
    )
    timeout = interp.task_timeout(step, data) or DEFAULT_GRPC_TIMEOUT
    async with interp.activity_share.slot():
        return await workflow.execute_activity(
            CALL_GRPC_ACTIVITY,
            request,
            task_queue=workflow.info().task_queue,  # every queue's worker has every activity
            start_to_close_timeout=timeout,
            retry_policy=GRPC_RETRY,
            summary=f"gRPC {request.service}/{request.method} at {request.target}",
        )
