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


async def test_a_function_runs_with_its_with_as_input(runner: DocumentRunner) -> None:
    document = HEADER % "function-call" + (
        "use:\n"
        "  functions:\n"
        "    greet: { set: { greeting: '${ \"hello \" + .who }' } }\n"
        "do:\n"
        "  - hello: { call: greet, with: { who: '${ .name }' } }\n"
    )
    assert await runner.run(document, {"name": "ada"}) == {"greeting": "hello ada"}


async def test_a_function_named_like_a_built_in_call_runs_as_the_function(
    runner: DocumentRunner,
) -> None:
    # The load checks it as the function (its `with` is no HTTP request); it used to run
    # as `call: http` and fail for want of an endpoint.
    document = HEADER % "function-shadow" + (
        "use:\n"
        "  functions:\n"
        "    http: { set: { got: '${ .value }' } }\n"
        "do:\n"
        "  - shadowed: { call: http, with: { value: 42 } }\n"
    )
    assert await runner.run(document) == {"got": 42}


async def test_null_then_continues_and_a_null_condition_never_holds(
    runner: DocumentRunner,
) -> None:
    document = HEADER % "nulls" + (
        "do:\n"
        "  - first: { set: { steps: [first] }, then: null }\n"
        "  - skipped: { if: null, set: { steps: [skipped] } }\n"
        "  - last: { set: '${ . + {steps: (.steps + [\"last\"])} }' }\n"
    )
    assert await runner.run(document) == {"steps": ["first", "last"]}
