"""The engine's modules import each other without a cycle, and the task kinds stay apart.

docs/adr/0023: loading, the task kinds and the interpreter are layered so that a task
type's module can hold both its load check and its runner. A cycle would bring back the
private shared checker and the copied constants the layering removed, so it is a test
failure here rather than a surprise at import time.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zigflow
from zigflow.dsl import load_document
from zigflow.dsl.model import TaskNode
from zigflow.dsl.tasks import KINDS

SOURCE = Path(zigflow.__file__).parent
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PACKAGE = "zigflow"


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports when it runs: at module level, outside
    ``if TYPE_CHECKING:`` (annotations only), resolved to modules."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    found.add(submodule)
                elif node.module in modules:
                    found.add(node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in SOURCE.rglob("*.py")}
    modules = set(paths)
    graph = {name: runtime_imports(path, modules) for name, path in paths.items()}
    # A package's __init__ gathers its public names; a module importing one of those names
    # depends on the module that defines it, which the edge to the package hides. Ignore
    # edges into packages from their own submodules.
    for name, edges in graph.items():
        edges -= {edge for edge in edges if name.startswith(f"{edge}.")}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_engine_has_no_import_cycle() -> None:
    found = cycle(import_graph())
    assert found is None, " -> ".join(found or ())


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycle(graph) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_the_interpreter_and_the_runners_do_not_import_the_loader() -> None:
    """What runs in a workflow never imports the load checks (``document``)."""
    graph = import_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return False

    assert not reaches("zigflow.dsl.interpreter", "zigflow.dsl.document")
    assert not reaches("zigflow.dsl.pinning", "zigflow.dsl.document")


def test_every_kind_lives_in_its_own_module() -> None:
    modules = {kind.runner.__module__ for kind in KINDS.values()}
    checks = {kind.check.__module__ for kind in KINDS.values()}
    parsers = {kind.parse.__module__ for kind in KINDS.values()}
    assert len(modules) == len(KINDS)
    assert modules == checks == parsers
    for name, kind in KINDS.items():
        assert kind.runner.__module__ == f"zigflow.dsl.tasks.{name}_task"


def test_a_loaded_document_is_typed_all_the_way_down() -> None:
    """Every task of the examples, nested ones included, is a ``TaskNode`` whose body is
    its kind's dataclass, declared in its kind's module: nothing runs from a raw map."""
    seen: set[str] = set()

    def nested(value: Any) -> Iterator[TaskNode]:
        if isinstance(value, TaskNode):
            yield value
        elif isinstance(value, tuple):
            for item in value:
                yield from nested(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                yield from nested(getattr(value, field.name))

    def walk(task: TaskNode) -> None:
        assert dataclasses.is_dataclass(task.body), task.name
        assert type(task.body).__module__ == f"zigflow.dsl.tasks.{task.kind}_task"
        seen.add(task.kind)
        for inner in nested(task.body):
            walk(inner)

    for path in sorted(EXAMPLES.glob("*.yaml")):
        document = load_document(path)
        for task in (*document.tasks, *document.functions.values()):
            walk(task)
    assert seen >= {"call", "for", "fork", "listen", "run", "set", "switch", "try"}, seen
