"""Pure pieces of the new task runners: error filters, scoped variables, HTTP output shapes."""

from __future__ import annotations

import base64

import httpx
import pytest

from zigflow.dsl import expressions
from zigflow.dsl.errors import COMMUNICATION, DslError
from zigflow.dsl.tasks.try_task import matches
from zigflow.http_call import HttpRequest, shape_output

ERROR = DslError(
    type=COMMUNICATION, status=503, title="Unavailable", detail="down", instance="/do/0/get"
)


@pytest.mark.parametrize(
    ("wanted", "caught"),
    [
        ({}, True),
        ({"type": COMMUNICATION}, True),
        ({"type": "communication"}, True),
        ({"type": "timeout"}, False),
        ({"type": "https://serverlessworkflow.io/dsl/errors/types/communication"}, True),
        ({"type": "https://serverlessworkflow.io/dsl/errors/types/timeout"}, False),
        ({"type": "https://example.com/errors/communication"}, False),
        ({"status": 503}, True),
        ({"status": "503"}, True),
        ({"status": 404}, False),
        ({"type": "communication", "status": 503, "instance": "/do/0/get"}, True),
        ({"title": "Other"}, False),
        ({"detail": "down"}, True),
        ({"details": "down"}, True),  # the spec's name in an error filter
        ({"details": "up"}, False),
    ],
)
def test_error_filter(wanted: dict[str, object], caught: bool) -> None:
    assert matches(ERROR, wanted) is caught


def test_scoped_variables_are_bound_only_when_given() -> None:
    variables = {"input": {}, "item": {"name": "lamp"}, "index": 2}
    assert expressions.evaluate("${ [$index, $item.name] }", None, variables) == [2, "lamp"]
    with pytest.raises(expressions.ExpressionError):
        expressions.evaluate("${ $item }", None, {"input": {}})
    assert expressions.is_variable_name("row_1")
    assert not expressions.is_variable_name("1row")


def response(content: bytes, content_type: str) -> tuple[httpx.Response, bytes]:
    request = httpx.Request("GET", "http://example.test/items/1")
    reply = httpx.Response(200, headers={"content-type": content_type}, request=request)
    return reply, content


def test_http_output_formats() -> None:
    json_reply = response(b'{"id": 1}', "application/json")
    assert shape_output(HttpRequest(method="get", url="u"), *json_reply) == {"id": 1}
    asked = HttpRequest(
        method="get",
        url="u",
        output="response",
        headers={"Accept": "application/json", "Authorization": "Bearer s3cret"},
    )
    shaped = shape_output(asked, *json_reply)
    assert shaped["statusCode"] == 200
    assert shaped["content"] == {"id": 1}
    assert shaped["request"] == {
        "method": "GET",
        "uri": "http://example.test/items/1",
        "headers": {"Accept": "application/json", "Authorization": "<redacted>"},
    }
    raw = shape_output(HttpRequest(method="get", url="u", output="raw"), *json_reply)
    assert base64.b64decode(raw) == b'{"id": 1}'
    text_reply = response(b"plain", "text/plain")
    assert shape_output(HttpRequest(method="get", url="u"), *text_reply) == "plain"
