"""The provider knobs a spec may set in ``parameters``, checked the same way everywhere.

stigma-api refuses a bad value at StartAgent (naming the parameter); the orchestrator turns
the good ones into the model settings of each request. Other keys are left to the
provider (the scripted model reads its own).
"""

from __future__ import annotations

from collections.abc import Mapping

# name -> (kind, lowest, highest)
MODEL_SETTINGS: dict[str, tuple[type[float] | type[int], float, float]] = {
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "max_tokens": (int, 1, 1_000_000),
    "seed": (int, 0, 2**31 - 1),
}


class InvalidModelSetting(ValueError):
    """A bad model setting in ``parameters``: ``name`` is its key, ``problem`` what is wrong."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"parameters.{name} {problem}")
        self.name = name
        self.problem = problem


def model_settings(parameters: Mapping[str, str]) -> dict[str, float | int]:
    """The model settings in ``parameters``; InvalidModelSetting names a bad one."""
    settings: dict[str, float | int] = {}
    for name, (kind, lowest, highest) in MODEL_SETTINGS.items():
        raw = parameters.get(name)
        if raw is None or raw == "":
            continue
        try:
            value: float | int = kind(raw)
        except ValueError:
            raise InvalidModelSetting(
                name, f"must be {'an integer' if kind is int else 'a number'}, got {raw[:40]!r}"
            ) from None
        if not lowest <= value <= highest:
            raise InvalidModelSetting(name, f"must be between {lowest:g} and {highest:g}")
        settings[name] = value
    return settings
