"""``evaluate``: jq only; ``strict`` (``${ }`` only) or ``loose`` (plain strings in
runtime-expression positions are expressions too), checked at load."""

from __future__ import annotations

from typing import Any

import pytest

from zigflow.dsl import DefinitionError
from zigflow.dsl.document import parse_document
from zigflow.dsl.expressions import evaluate


def document(*tasks: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "document": {"dsl": "1.0.0", "namespace": "unit", "name": "doc", "version": "1.0.0"},
        "do": list(tasks),
        **top,
    }


def refuse(data: dict[str, Any]) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        parse_document(data, source="unit.yaml")
    return caught.value


LOOSE = {"language": "jq", "mode": "loose"}
TASKS: tuple[dict[str, Any], ...] = (
    {"pick": {"if": ".go", "set": ". + {picked: true}", "export": {"as": "{seen: .picked}"}}},
    {
        "route": {
            "switch": [{"big": {"when": ".n > 10", "then": "loop"}}, {"other": {}}],
        }
    },
    {
        "loop": {
            "for": {"in": ".items", "each": "it"},
            "while": "$it < 5",
            "do": [{"add": {"set": ". + {n: (.n + $it)}"}}],
            "output": {"as": "{n}"},
        }
    },
    {
        "call-it": {
            "call": "agent",
            "with": {"model": "scripted:echo", "input": "plain text, not jq"},
            "input": {"from": "."},
        }
    },
    {
        "guard": {
            "try": [{"fail": {"raise": {"error": {"type": "runtime", "status": 500}}}}],
            "catch": {
                "when": "$error.status >= 500",
                "exceptWhen": "$error.status == 501",
                "retry": {"when": "true", "limit": {"attempt": {"count": 1}}},
                "do": [{"note": {"set": {"why": "literal text"}}}],
            },
        }
    },
)


def test_loose_mode_makes_runtime_expression_positions_expressions() -> None:
    loaded = parse_document(
        document(*TASKS, evaluate=LOOSE, input={"from": ".order"}), source="unit.yaml"
    )
    raw = loaded.raw
    pick = raw["do"][0]["pick"]
    assert pick["if"] == "${ .go }"
    assert pick["set"] == "${ . + {picked: true} }"
    assert pick["export"]["as"] == "${ {seen: .picked} }"
    assert raw["do"][1]["route"]["switch"][0]["big"]["when"] == "${ .n > 10 }"
    loop = raw["do"][2]["loop"]
    assert (loop["for"]["in"], loop["while"]) == ("${ .items }", "${ $it < 5 }")
    assert loop["do"][0]["add"]["set"] == "${ . + {n: (.n + $it)} }"
    assert loop["output"]["as"] == "${ {n} }"
    assert raw["input"]["from"] == "${ .order }"
    catch = raw["do"][4]["guard"]["catch"]
    assert (catch["when"], catch["exceptWhen"]) == (
        "${ $error.status >= 500 }",
        "${ $error.status == 501 }",
    )
    assert catch["retry"]["when"] == "${ true }"
    # Data positions stay literal text.
    assert raw["do"][3]["call-it"]["with"]["input"] == "plain text, not jq"
    assert raw["do"][3]["call-it"]["with"]["model"] == "scripted:echo"
    assert catch["do"][0]["note"]["set"] == {"why": "literal text"}
    # The rewritten expressions evaluate like strict ones.
    assert evaluate(pick["set"], {"go": True}, {}) == {"go": True, "picked": True}


def test_strict_mode_leaves_plain_strings_alone() -> None:
    for evaluate_setting in (None, {"mode": "strict"}, {"language": "jq"}):
        top = {} if evaluate_setting is None else {"evaluate": evaluate_setting}
        loaded = parse_document(document({"s": {"set": ".not.jq"}}, **top), source="unit.yaml")
        assert loaded.raw["do"][0]["s"]["set"] == ".not.jq"


def test_loose_expressions_are_compiled_at_load() -> None:
    error = refuse(document({"s": {"if": ".a ==", "set": {}}}, evaluate=LOOSE))
    assert error.path == "$.do[0].s.if"
    assert "does not compile" in error.problem
    nested = {"l": {"for": {"in": ".xs"}, "do": [{"s": {"set": ". +"}}]}}
    assert refuse(document(nested, evaluate=LOOSE)).path == "$.do[0].l.do[0].s.set"
    function = {"call": "f"}
    use = {"functions": {"f": {"set": "{a: }"}}}
    assert (
        refuse(document({"c": function}, evaluate=LOOSE, use=use)).path == "$.use.functions.f.set"
    )


@pytest.mark.parametrize(
    ("setting", "path"),
    [
        ({"language": "javascript"}, "$.evaluate.language"),
        ({"mode": "lenient"}, "$.evaluate.mode"),
        ({"mode": "loose", "flavour": "x"}, "$.evaluate.flavour"),
        ("jq", "$.evaluate"),
    ],
)
def test_other_languages_and_modes_are_refused(setting: Any, path: str) -> None:
    assert refuse(document({"s": {"set": {}}}, evaluate=setting)).path == path
