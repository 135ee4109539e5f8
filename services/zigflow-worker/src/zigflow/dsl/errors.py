"""DSL errors in the spec's shape, and their mapping to and from Temporal failures.

A ``DslError`` crosses a Temporal boundary (an activity, a child workflow, the
workflow's own failure) as an ``ApplicationError`` whose ``type`` is the DSL error
type and whose first detail is the error as a map; ``from_exception`` turns such a
failure back into the same ``DslError``. Failures that were not DSL errors map as:

- ``ApplicationError`` of type ``T`` (``AgentFailed``, ``AgentCancelled``, ...):
  type ``https://zigflow.io/errors/T``, status 500, detail = the message;
- an activity or child timeout: the spec's ``timeout`` type, status 408.

Cancellation is never mapped: ``try`` does not catch a cancelled workflow.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    TimeoutError,
)

ERROR_TYPE_BASE = "https://serverlessworkflow.io/spec/1.0.0/errors/"
ZIGFLOW_ERROR_BASE = "https://zigflow.io/errors/"
CONFIGURATION = ERROR_TYPE_BASE + "configuration"
VALIDATION = ERROR_TYPE_BASE + "validation"
EXPRESSION = ERROR_TYPE_BASE + "expression"
COMMUNICATION = ERROR_TYPE_BASE + "communication"
TIMEOUT = ERROR_TYPE_BASE + "timeout"
RUNTIME = ERROR_TYPE_BASE + "runtime"
# Set by the interpreter on an activity / child failure: the task that failed.
INSTANCE_ATTRIBUTE = "zigflow_instance"


class DslError(Exception):
    """A runtime error in the spec's shape (type, status, title, detail, instance)."""

    def __init__(
        self, *, type: str, status: int, title: str, detail: str = "", instance: str = ""
    ) -> None:
        super().__init__(f"{title}: {detail}" if detail else title)
        self.type = type
        self.status = status
        self.title = title
        self.detail = detail
        self.instance = instance

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
            "instance": self.instance,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any], *, instance: str = "") -> DslError:
        return cls(
            type=str(value.get("type") or RUNTIME),
            status=int(value.get("status") or 500),
            title=str(value.get("title") or "Error"),
            detail=str(value.get("detail") or ""),
            instance=str(value.get("instance") or instance),
        )

    def to_failure(self, *, non_retryable: bool = True) -> ApplicationError:
        """The Temporal failure that carries this error across a boundary."""
        return ApplicationError(
            str(self), self.as_dict(), type=self.type, non_retryable=non_retryable
        )


def expression_error(detail: str, instance: str) -> DslError:
    return DslError(
        type=EXPRESSION,
        status=400,
        title="Expression evaluation failed",
        detail=detail,
        instance=instance,
    )


def validation_error(detail: str, instance: str) -> DslError:
    return DslError(
        type=VALIDATION,
        status=400,
        title="Invalid task configuration",
        detail=detail,
        instance=instance,
    )


def timeout_error(detail: str, instance: str) -> DslError:
    return DslError(type=TIMEOUT, status=408, title="Timed out", detail=detail, instance=instance)


# call: http / call: grpc under the worker's egress policy (docs/dsl.md, "Egress policy").
EGRESS_REFUSED_STATUS = 403
RESPONSE_TOO_LARGE_STATUS = 502
EGRESS_SETTINGS_HINT = "the worker's ZIGFLOW_EGRESS_ALLOW / ZIGFLOW_EGRESS_DENY decide"


def egress_refused_error(detail: str, instance: str) -> DslError:
    """The destination is outside the worker's egress policy: nothing was sent to it."""
    return DslError(
        type=COMMUNICATION,
        status=EGRESS_REFUSED_STATUS,
        title="Destination refused by the egress policy",
        detail=f"{detail} ({EGRESS_SETTINGS_HINT})",
        instance=instance,
    )


def response_too_large_error(detail: str, instance: str) -> DslError:
    """The response passed the worker's ZIGFLOW_MAX_RESPONSE_BYTES; reading stopped there."""
    return DslError(
        type=COMMUNICATION,
        status=RESPONSE_TOO_LARGE_STATUS,
        title="Response too large",
        detail=f"{detail} (the worker's ZIGFLOW_MAX_RESPONSE_BYTES)",
        instance=instance,
    )


def _from_application(failure: ApplicationError, instance: str) -> DslError:
    details = failure.details[0] if failure.details else None
    if isinstance(details, dict) and "type" in details and "status" in details:
        return DslError.from_dict(details, instance=instance)
    kind = failure.type or "ApplicationError"
    return DslError(
        type=ZIGFLOW_ERROR_BASE + kind,
        status=500,
        title=kind,
        detail=failure.message,
        instance=instance,
    )


def from_exception(err: BaseException, instance: str) -> DslError | None:
    """The DSL error an exception stands for, or None when ``try`` must not catch it."""
    if isinstance(err, DslError):
        return err
    if isinstance(err, ActivityError | ChildWorkflowError):
        instance = getattr(err, INSTANCE_ATTRIBUTE, instance)
        cause = err.cause
        if isinstance(cause, ActivityError | ChildWorkflowError):
            return from_exception(cause, instance)
        if isinstance(cause, ApplicationError):
            return _from_application(cause, instance)
        if isinstance(cause, TimeoutError):
            return timeout_error(str(cause) or "timed out", instance)
        return None
    if isinstance(err, ApplicationError):
        return _from_application(err, instance)
    return None
