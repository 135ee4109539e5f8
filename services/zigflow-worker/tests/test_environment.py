"""The signing key and the secrets leave the worker's environment, and no evaluated
program reads an environment: ``$ENV`` and ``env`` give ``{}`` (documents using them are
refused at load: tests/test_expression_names.py)."""

from __future__ import annotations

import os
import uuid

import pytest

from zigflow.dsl.expressions import evaluate
from zigflow.environment import take_secrets
from zigflow.secrets import SecretSource

KEY = "k1:" + "s" * 32


def _read(expression: str) -> object:
    # A fresh program each time: jq binds $ENV when it compiles one.
    unique = uuid.uuid4().hex
    return evaluate("${ [" + expression + ', "' + unique + '"][0] }', None, {})


def test_the_key_and_the_secrets_are_taken_out_of_the_environment() -> None:
    environ = {
        "CALLBACK_KEYS": KEY,
        "CALLBACK_KEYS_FILE": "/run/secrets/callback-keys",
        "ZIGFLOW_SECRET_GITHUB": "ghp_x",
        "ZIGFLOW_SECRETS_DIR": "/run/secrets/zigflow",
        "PATH": "/usr/bin",
    }
    assert take_secrets(environ) == {"ZIGFLOW_SECRET_GITHUB": "ghp_x"}
    assert environ == {"ZIGFLOW_SECRETS_DIR": "/run/secrets/zigflow", "PATH": "/usr/bin"}


def test_no_jq_expression_reads_them_afterwards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_KEYS", KEY)
    monkeypatch.setenv("ZIGFLOW_SECRET_DSL_TOKEN", "tok-only-the-worker-knows")
    # Even with the key still in this process's environment, and jq in this process.
    assert _read("$ENV") == {}
    assert _read("env") == {}

    secrets = take_secrets(os.environ)

    for expression in (
        "$ENV.CALLBACK_KEYS",
        "env.CALLBACK_KEYS",
        "$ENV.ZIGFLOW_SECRET_DSL_TOKEN",
        "env.ZIGFLOW_SECRET_DSL_TOKEN",
    ):
        assert _read(expression) is None, expression
    assert KEY not in str(_read("$ENV"))
    assert KEY not in str(_read("env"))
    # The declared secret still reaches $secrets, from what was taken.
    assert SecretSource(None, secrets).read("dsl_token") == "tok-only-the-worker-knows"
