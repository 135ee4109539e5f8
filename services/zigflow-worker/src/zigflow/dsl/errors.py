from __future__ import annotations

from typing import Any


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


ERROR_TYPE_BASE = "https://serverlessworkflow.io/spec/1.0.0/errors/"


def expression_error(detail: str, instance: str) -> DslError:
    return DslError(
        type=ERROR_TYPE_BASE + "expression",
        status=400,
        title="Expression evaluation failed",
        detail=detail,
        instance=instance,
    )


def validation_error(detail: str, instance: str) -> DslError:
    return DslError(
        type=ERROR_TYPE_BASE + "validation",
        status=400,
        title="Invalid task configuration",
        detail=detail,
        instance=instance,
    )
