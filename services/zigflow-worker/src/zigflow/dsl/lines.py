"""Where in a YAML file a JSON path (``$.do[1].ask.with.model``) points: its line."""

from __future__ import annotations

import re

import yaml

from zigflow.dsl.yaml_source import YamlLimitError, YamlLimits, compose

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def line_of(text: str, path: str, limits: YamlLimits | None = None) -> int | None:
    """The 1-based line of the deepest node the path reaches (the parent of a missing
    key), or None when the text does not parse within the limits."""
    try:
        node = compose(text, limits or YamlLimits())
    except (yaml.YAMLError, YamlLimitError):
        return None
    if node is None:
        return None
    for match in _STEP.finditer(path.removeprefix("$")):
        key, index = match.groups()
        child = None
        if key is not None and isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif index is not None and isinstance(node, yaml.SequenceNode):
            position = int(index)
            child = node.value[position] if position < len(node.value) else None
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1
