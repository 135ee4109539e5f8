"""fork and for, run in-process (zigflow.testing), including the conformance kit's
scenarios (ctk/features/branch.feature, for.feature; docs/dsl.md "Conformance")."""

from __future__ import annotations

from zigflow.testing import DocumentRunner

HEADER = "document: {dsl: '1.0.3', namespace: default, name: %s, version: '1.0.0'}\n"


async def test_ctk_fork_task_with_competing_concurrent_sub_tasks(runner: DocumentRunner) -> None:
    document = HEADER % "fork" + (
        "do:\n"
        "  - branchWithCompete:\n"
        "      fork:\n"
        "        compete: true\n"
        "        branches:\n"
        "          - setRed: { set: { colors: '${ .colors + [\"red\"] }' } }\n"
        "          - setGreen: { set: { colors: '${ .colors + [\"green\"] }' } }\n"
        "          - setBlue: { set: { colors: '${ .colors + [\"blue\"] }' } }\n"
    )
    output = await runner.run(document)
    assert len(output["colors"]) == 1  # the winner's output only
    assert output["colors"][0] in {"red", "green", "blue"}


async def test_a_fork_without_compete_keeps_every_branch_in_order(runner: DocumentRunner) -> None:
    document = HEADER % "fork-all" + (
        "do:\n"
        "  - both:\n"
        "      fork:\n"
        "        branches:\n"
        "          - one: { set: { n: 1 } }\n"
        "          - two: { set: { n: 2 } }\n"
    )
    assert await runner.run(document) == [{"n": 1}, {"n": 2}]


async def test_ctk_for_task(runner: DocumentRunner) -> None:
    # The kit writes `in: '.colors'`, a bare expression: the spec's default strict mode
    # reads it as a string, so the scenario declares loose mode (docs/dsl.md).
    document = HEADER % "for" + (
        "evaluate: { mode: loose }\n"
        "do:\n"
        "  - loopColors:\n"
        "      for: { each: color, in: '.colors' }\n"
        "      do:\n"
        "        - markProcessed:\n"
        "            set:\n"
        "              processed: '${ { colors: (.processed.colors + [ $color ]),"
        " indexes: (.processed.indexes + [ $index ]) } }'\n"
    )
    output = await runner.run(document, {"colors": ["red", "green", "blue"]})
    assert output == {"processed": {"colors": ["red", "green", "blue"], "indexes": [0, 1, 2]}}
