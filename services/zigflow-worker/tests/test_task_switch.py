"""switch, run in-process (zigflow.testing), including the conformance kit's scenarios
(ctk/features/switch.feature; docs/dsl.md "Conformance").

The kit writes its conditions bare (``when: '.color == "red"'``). In the spec's default
strict mode that is a non-empty string, always true, so Zigflow refuses it at load; the
scenarios declare loose mode, where it is the jq condition the kit means."""

from __future__ import annotations

import pytest

from zigflow.dsl import DefinitionError
from zigflow.testing import DocumentRunner, document_of

HEADER = "document: {dsl: '1.0.3', namespace: default, name: %s, version: '1.0.0'}\n"
CASES = (
    "      switch:\n"
    "        - red: { when: '.color == \"red\"', then: setRed }\n"
    "        - green: { when: '.color == \"green\"', then: setGreen }\n"
    "        - blue: { when: '.color == \"blue\"', then: setBlue }\n"
)


def _sets(then: str = "") -> str:
    suffix = f", then: {then}" if then else ""
    return "".join(
        f"  - set{name.title()}: "
        f"{{ set: {{ colors: '${{ .colors + [ \"{name}\" ] }}' }}{suffix} }}\n"
        for name in ("red", "green", "blue")
    )


async def test_ctk_switch_task_with_matching_case(runner: DocumentRunner) -> None:
    document = (
        HEADER % "switch-match"
        + "evaluate: { mode: loose }\ndo:\n  - switchColor:\n"
        + CASES
        + _sets(then="end")
    )
    assert await runner.run(document, {"color": "red"}) == {"colors": ["red"]}


async def test_ctk_switch_task_with_implicit_default_case(runner: DocumentRunner) -> None:
    document = (
        HEADER % "switch-default-implicit"
        + "evaluate: { mode: loose }\ndo:\n  - switchColor:\n"
        + CASES
        + "      then: end\n"
        + _sets()
    )
    assert await runner.run(document, {"color": "yellow"}) == {"color": "yellow"}


async def test_ctk_switch_task_with_explicit_default_case(runner: DocumentRunner) -> None:
    document = (
        HEADER % "switch-default-explicit"
        + "evaluate: { mode: loose }\ndo:\n  - switchColor:\n"
        + CASES
        + "        - anyOtherColor: { then: setCustomColor }\n"
        + _sets()
        + "  - setCustomColor: { set: { colors: '${ .colors + [ $input.color ] }' } }\n"
    )
    assert await runner.run(document, {"color": "yellow"}) == {"colors": ["yellow"]}


def test_the_kits_bare_conditions_are_refused_in_strict_mode() -> None:
    document = HEADER % "switch-strict" + "do:\n  - switchColor:\n" + CASES + _sets(then="end")
    with pytest.raises(DefinitionError) as caught:
        document_of(document)
    assert caught.value.path == "$.do[0].switchColor.switch[0].red.when"
