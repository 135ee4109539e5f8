"""DSL durations: ISO 8601 strings and {unit: amount} objects."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from zigflow.dsl.durations import parse_duration


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT30S", timedelta(seconds=30)),
        ("PT0S", timedelta(0)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("PT5M", timedelta(minutes=5)),
        ("PT1H", timedelta(hours=1)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H3M4.5S", timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
        ("P1.5D", timedelta(hours=36)),
        ("PT90M", timedelta(minutes=90)),
        ("  PT30S  ", timedelta(seconds=30)),
    ],
)
def test_iso_strings(value: str, expected: timedelta) -> None:
    assert parse_duration(value, where="$.timeout") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"seconds": 30}, timedelta(seconds=30)),
        ({"hours": 1, "minutes": 5}, timedelta(hours=1, minutes=5)),
        ({"milliseconds": 250}, timedelta(milliseconds=250)),
        ({"days": 1, "seconds": 1.5}, timedelta(days=1, seconds=1.5)),
        ({"minutes": "2"}, timedelta(minutes=2)),
        (
            {"days": 1, "hours": 1, "minutes": 1, "seconds": 1, "milliseconds": 1},
            timedelta(days=1, hours=1, minutes=1, seconds=1, milliseconds=1),
        ),
    ],
)
def test_objects(value: dict[str, Any], expected: timedelta) -> None:
    assert parse_duration(value, where="$.timeout") == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("P", "is not an ISO 8601 duration"),
        ("PT", "is not an ISO 8601 duration"),
        ("", "is not an ISO 8601 duration"),
        ("30S", "is not an ISO 8601 duration"),
        ("30s", "is not an ISO 8601 duration"),
        ("pt30s", "is not an ISO 8601 duration"),
        ("PT-5S", "is not an ISO 8601 duration"),
        ("P1Y", "is not an ISO 8601 duration"),
        ("P2W", "is not an ISO 8601 duration"),
        ("PT1S1M", "is not an ISO 8601 duration"),
        ("1 hour", "is not an ISO 8601 duration"),
        ("P99999999999D", "too long"),
        ({"weeks": 1}, "unknown duration unit(s) ['weeks']"),
        ({"seconds": 1, "fortnights": 2}, "unknown duration unit(s) ['fortnights']"),
        ({"hours": "soon"}, "must be numbers"),
        ({"hours": None}, "must be numbers"),
        ({"hours": [1]}, "must be numbers"),
        ({"days": 1e12}, "too long"),
        ({"seconds": float("inf")}, "too long"),
        (30, "expected an ISO 8601 string or an object"),
        (None, "expected an ISO 8601 string or an object"),
        (["PT1S"], "expected an ISO 8601 string or an object"),
    ],
)
def test_errors_name_where_and_what(value: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=r"^\$\.do\[0\]\.t\.timeout\.after: ") as caught:
        parse_duration(value, where="$.do[0].t.timeout.after")
    assert problem in str(caught.value)
