"""Which names a jq program uses, read from its tokens: the load-time half of the sandbox.

A document is untrusted, and some jq builtins reach outside the expression's data: the
worker's environment (``$ENV``, ``env``), its standard streams (``input``, ``inputs``,
``debug``, ``stderr``, ``input_filename``), the program's own location (``$__loc__``),
the process itself (``halt``, ``halt_error``) and the module search path on disk
(``modulemeta``, ``get_search_list``, ``get_jq_origin``, ``get_prog_origin``). They are
refused when the document loads, naming the expression's path and the name.

The check reads the program as jq's lexer does (jq 1.7 / 1.8), not as text, so that it
is not fooled either way:

- a name inside a string literal (``"env"``) is data, but code inside a string
  interpolation (``"\\(env)"``) is code;
- ``.env``, ``."env"`` and ``.["env"]`` read a field; ``{env: 1}`` and ``{env}`` build an
  object key (``{env}`` is ``{env: .env}``); ``. as {env: $x}`` destructures one;
- ``$env_x`` and ``$env`` are other variables than ``$ENV``;
- a ``#`` comment runs to the end of the line, or further after a backslash (jq 1.7.1).

Anything else spelled like a forbidden builtin is refused, a ``def env:`` of one's own
included: refusing a harmless program is safe, missing a call is not. The programs are
also compiled at load, so text jq would not accept never reaches this far.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What each forbidden name would reach: the reason a refusal gives.
FORBIDDEN_FUNCTIONS: dict[str, str] = {
    "env": "reads the worker's environment",
    "input": "reads the worker's standard input",
    "inputs": "reads the worker's standard input",
    "input_filename": "reads the worker's input file name",
    "debug": "writes to the worker's standard error",
    "stderr": "writes to the worker's standard error",
    "halt": "stops the evaluating process",
    "halt_error": "stops the evaluating process",
    "modulemeta": "reads jq modules from the worker's disk",
    "get_search_list": "reads the worker's module search path",
    "get_jq_origin": "reads where the worker's jq is installed",
    "get_prog_origin": "reads where the program comes from",
}
FORBIDDEN_VARIABLES: dict[str, str] = {
    "ENV": "reads the worker's environment",
    "__loc__": "reads the program's location in the worker",
}

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*")
_FIELD = re.compile(r"\.[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# jq 1.7.1: a comment ends at a newline that no backslash escapes.
_COMMENT = re.compile(r"#(?:[^\\\n]|\\(?:.|\n))*", re.DOTALL)
_OPENERS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class Name:
    """A name the program uses as code: ``kind`` is ``function`` (a call, a definition or
    a parameter) or ``variable`` (``$name``)."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"${self.name}" if self.kind == "variable" else self.name


class _Lexer:
    """Collects the code names of one program; strings are skipped but for their
    interpolations, which are lexed as code."""

    def __init__(self, program: str) -> None:
        self.text = program
        self.at = 0
        self.names: list[Name] = []

    def code(self, *, interpolation: bool = False) -> None:
        """Lex code until the end of the text, or (in a string interpolation) until the
        ``)`` that closes it."""
        brackets: list[str] = []
        previous = ""
        text = self.text
        while self.at < len(text):
            char = text[self.at]
            if char.isspace():
                self.at += 1
                continue
            if char == "#":
                match = _COMMENT.match(text, self.at)
                self.at = match.end() if match else len(text)
                continue
            if char == '"':
                self.at += 1
                self.string()
                previous = '"'
                continue
            if text.startswith("..", self.at):
                self.at += 2
                previous = ".."
                continue
            if char == "." and (field := _FIELD.match(text, self.at)):
                self.at = field.end()
                previous = "field"
                continue
            if char.isdigit() or (char == "." and (_NUMBER.match(text, self.at))):
                number = _NUMBER.match(text, self.at)
                self.at = number.end() if number else self.at + 1
                previous = "number"
                continue
            if char in "$@":
                ident = _IDENT.match(text, self.at + 1)
                if ident is None:
                    self.at += 1
                    previous = char
                    continue
                self.at = ident.end()
                if char == "$":
                    self.names.append(Name("variable", ident.group()))
                previous = "name"
                continue
            if char.isalpha() or char == "_":
                ident = _IDENT.match(text, self.at)
                assert ident is not None  # a letter or _ always starts one
                self.at = ident.end()
                in_object = bool(brackets) and brackets[-1] == "{"
                if not (in_object and previous in ("{", ",")):  # not an object key
                    self.names.append(Name("function", ident.group()))
                previous = "name"
                continue
            self.at += 1
            if char in _OPENERS:
                brackets.append(char)
            elif char in ")]}":
                if interpolation and char == ")" and not brackets:
                    return
                if brackets:
                    brackets.pop()
            previous = char

    def string(self) -> None:
        """Skip a string literal (its opening quote already read); lex its ``\\(...)``
        interpolations as code."""
        text = self.text
        while self.at < len(text):
            char = text[self.at]
            if char == '"':
                self.at += 1
                return
            if char == "\\":
                if text.startswith("(", self.at + 1):
                    self.at += 2
                    self.code(interpolation=True)
                    continue
                self.at += 2
                continue
            self.at += 1


def code_names(program: str) -> list[Name]:
    """The function and variable names ``program`` uses as code, in order."""
    lexer = _Lexer(program)
    lexer.code()
    return lexer.names


def forbidden(program: str) -> list[tuple[Name, str]]:
    """Each forbidden name the program uses as code, with what it would reach."""
    found: list[tuple[Name, str]] = []
    for name in code_names(program):
        table = FORBIDDEN_VARIABLES if name.kind == "variable" else FORBIDDEN_FUNCTIONS
        reason = table.get(name.name.rsplit("::", 1)[-1])
        if reason is not None and all(name != seen for seen, _ in found):
            found.append((name, reason))
    return found
