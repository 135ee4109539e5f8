"""DSL durations: an ISO 8601 string (``PT30S``) or an object ({hours: 1, minutes: 5})."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_ISO = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_UNITS = ("days", "hours", "minutes", "seconds", "milliseconds")


def parse_duration(value: Any, *, where: str) -> timedelta:
    """Return the duration or raise ValueError naming ``where``."""
    if isinstance(value, str):
        match = _ISO.match(value.strip())
        if not match or value.strip() in ("P", "PT"):
            raise ValueError(f"{where}: {value!r} is not an ISO 8601 duration such as 'PT30S'")
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        try:
            return timedelta(**parts)
        except OverflowError:
            raise ValueError(f"{where}: {value!r} is too long a duration") from None
    if isinstance(value, dict):
        unknown = set(value) - set(_UNITS)
        if unknown:
            raise ValueError(f"{where}: unknown duration unit(s) {sorted(unknown)}")
        try:
            return timedelta(**{k: float(v) for k, v in value.items()})
        except (TypeError, ValueError):
            raise ValueError(f"{where}: duration values must be numbers") from None
        except OverflowError:
            raise ValueError(f"{where}: {value!r} is too long a duration") from None
    raise ValueError(f"{where}: expected an ISO 8601 string or an object of {', '.join(_UNITS)}")
