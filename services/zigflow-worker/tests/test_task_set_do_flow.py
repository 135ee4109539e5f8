"""set, do and the flow directives, run in-process (zigflow.testing), including the
Serverless Workflow conformance kit's scenarios for them (ctk/features/set.feature,
do.feature, flow.feature; docs/dsl.md "Conformance")."""

from __future__ import annotations

from zigflow.testing import DocumentRunner

HEADER = "document: {dsl: '1.0.3', namespace: default, name: %s, version: '1.0.0'}\n"


async def test_ctk_set_task(runner: DocumentRunner) -> None:
    document = HEADER % "set" + (
        "do:\n"
        "  - setShape:\n"
        "      set:\n"
        "        shape: circle\n"
        "        size: ${ .configuration.size }\n"
        "        fill: ${ .configuration.fill }\n"
    )
    size, fill = {"width": 6, "height": 6}, {"red": 69, "green": 69, "blue": 69}
    output = await runner.run(document, {"configuration": {"size": size, "fill": fill}})
    assert output == {"shape": "circle", "size": size, "fill": fill}


async def test_ctk_task_with_sequential_sub_tasks(runner: DocumentRunner) -> None:
    document = HEADER % "do" + (
        "do:\n"
        "  - compositeExample:\n"
        "      do:\n"
        "        - setRed: { set: { colors: '${ .colors + [\"red\"] }' } }\n"
        "        - setGreen: { set: { colors: '${ .colors + [\"green\"] }' } }\n"
        "        - setBlue: { set: { colors: '${ .colors + [\"blue\"] }' } }\n"
    )
    assert await runner.run(document) == {"colors": ["red", "green", "blue"]}


async def test_ctk_implicit_sequence_flow(runner: DocumentRunner) -> None:
    document = HEADER % "implicit-sequence" + (
        "do:\n"
        "  - setRed: { set: { colors: '${ .colors + [ \"red\" ] }' } }\n"
        "  - setGreen: { set: { colors: '${ .colors + [ \"green\" ] }' } }\n"
        "  - setBlue: { set: { colors: '${ .colors + [ \"blue\" ] }' } }\n"
    )
    # The order the colors were added is the order the tasks ran.
    assert await runner.run(document) == {"colors": ["red", "green", "blue"]}


async def test_ctk_explicit_sequence_flow(runner: DocumentRunner) -> None:
    document = HEADER % "explicit-sequence" + (
        "do:\n"
        "  - setRed: { set: { colors: '${ .colors + [ \"red\" ] }' }, then: setGreen }\n"
        "  - setBlue: { set: { colors: '${ .colors + [ \"blue\" ] }' }, then: end }\n"
        "  - setGreen: { set: { colors: '${ .colors + [ \"green\" ] }' }, then: setBlue }\n"
    )
    assert await runner.run(document) == {"colors": ["red", "green", "blue"]}


async def test_exit_leaves_only_the_enclosing_list(runner: DocumentRunner) -> None:
    document = HEADER % "exit-inner" + (
        "do:\n"
        "  - outer:\n"
        "      do:\n"
        "        - first: { set: { steps: [first] }, then: exit }\n"
        "        - skipped: { set: { steps: [skipped] } }\n"
        "  - after: { set: '${ . + {steps: (.steps + [\"after\"])} }' }\n"
    )
    assert await runner.run(document) == {"steps": ["first", "after"]}
