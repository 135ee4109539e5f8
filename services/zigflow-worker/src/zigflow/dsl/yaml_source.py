"""Reading a definition's YAML within bounds: a hostile file cannot hang or bloat a loader.

A 640-byte "billion laughs" (anchors whose aliases nest nine deep) parses into shared
references at once, but every later walk over it (the load-time checks, a deep copy, the
JSON of a run's input) visits 9^9 nodes. So the YAML is composed here under three limits,
each named in the error by the variable that sets it:

- ``ZIGFLOW_YAML_MAX_BYTES``: the file's size, checked before it is read;
- ``ZIGFLOW_YAML_MAX_DEPTH``: how deeply collections nest;
- ``ZIGFLOW_YAML_MAX_ALIAS_NODES``: how many nodes all aliases together stand for, counted
  as if each were expanded where it is used (an alias to a 3-node map costs 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_ALIAS_NODES = 10_000


@dataclass(frozen=True)
class YamlLimits:
    """Bounds on one definition file (see the module docstring)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    """Largest file, in bytes (``ZIGFLOW_YAML_MAX_BYTES``)."""
    max_depth: int = DEFAULT_MAX_DEPTH
    """Deepest nesting of maps and lists (``ZIGFLOW_YAML_MAX_DEPTH``)."""
    max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES
    """Nodes all aliases may stand for together (``ZIGFLOW_YAML_MAX_ALIAS_NODES``)."""


class YamlLimitError(ValueError):
    """A file past one of the limits; the message names the limit's variable."""


def _size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Nodes under ``node`` (itself included), aliases counted as expanded; memoized, so
    this costs one visit per distinct node however often it is aliased."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_size(k, sizes) + _size(v, sizes) for k, v in node.value)
    sizes[id(node)] = total
    return total


def _height(node: yaml.Node, heights: dict[int, int]) -> int:
    """How many collections deep ``node`` nests (0 for a scalar), through aliases; memoized."""
    known = heights.get(id(node))
    if known is not None:
        return known
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        heights[id(node)] = 0
        return 0
    height = 1 + max((_height(child, heights) for child in children), default=0)
    heights[id(node)] = height
    return height


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the composer bounded by ``YamlLimits``."""

    def __init__(self, stream: str, limits: YamlLimits) -> None:
        super().__init__(stream)
        self._limits = limits
        self._depth = 0
        self._alias_nodes = 0
        self._sizes: dict[int, int] = {}
        self._heights: dict[int, int] = {}
        self._open: set[str] = set()

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._count_alias(self.peek_event())  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self._limits.max_depth:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                line = mark.line + 1 if mark is not None else "?"
                raise YamlLimitError(
                    f"line {line}: nests deeper than {self._limits.max_depth} levels "
                    "(ZIGFLOW_YAML_MAX_DEPTH)"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _count_alias(self, event: yaml.AliasEvent) -> None:
        line = event.start_mark.line + 1 if event.start_mark is not None else "?"
        if event.anchor in self._open:
            raise YamlLimitError(
                f"line {line}: alias *{event.anchor} is inside the collection it names "
                "(a recursive alias)"
            )
        target = self.anchors.get(event.anchor)
        if target is None:
            return  # PyYAML reports the undefined alias
        # An alias nests its target where it is used: the depth limit holds through it.
        if self._depth + _height(target, self._heights) > self._limits.max_depth:
            raise YamlLimitError(
                f"line {line}: alias *{event.anchor} nests deeper than "
                f"{self._limits.max_depth} levels (ZIGFLOW_YAML_MAX_DEPTH)"
            )
        self._alias_nodes += _size(target, self._sizes)
        if self._alias_nodes > self._limits.max_alias_nodes:
            raise YamlLimitError(
                f"line {line}: aliases stand for more than {self._limits.max_alias_nodes} "
                "nodes (ZIGFLOW_YAML_MAX_ALIAS_NODES): a YAML alias bomb?"
            )

    def compose_sequence_node(self, anchor: Any) -> yaml.SequenceNode:
        self._opening(anchor)
        try:
            return super().compose_sequence_node(anchor)
        finally:
            self._open.discard(anchor)

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        self._opening(anchor)
        try:
            return super().compose_mapping_node(anchor)
        finally:
            self._open.discard(anchor)

    def _opening(self, anchor: str | None) -> None:
        """An anchored collection is open while its children are composed: an alias to
        it there would make the data recursive."""
        if anchor is not None:
            self._open.add(anchor)


def _check_size(size: int, limits: YamlLimits) -> None:
    if size > limits.max_bytes:
        raise YamlLimitError(
            f"is {size} bytes, more than {limits.max_bytes} (ZIGFLOW_YAML_MAX_BYTES)"
        )


def read_text(path: Path, limits: YamlLimits) -> str:
    """The file's text, refused unread when it is larger than the limit."""
    _check_size(path.stat().st_size, limits)
    with path.open("rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    _check_size(len(data), limits)
    return data.decode("utf-8")


def compose(text: str, limits: YamlLimits) -> yaml.Node | None:
    """The text's node tree (None for an empty document), within the limits."""
    _check_size(len(text.encode("utf-8")), limits)
    loader = _BoundedLoader(text, limits)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def load(text: str, limits: YamlLimits) -> Any:
    """The text as Python data (PyYAML's safe types), within the limits."""
    _check_size(len(text.encode("utf-8")), limits)
    loader = _BoundedLoader(text, limits)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
