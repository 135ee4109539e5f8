"""What the zigflow-worker takes out of its own environment once it has started.

Workflow documents are untrusted, and jq can read the process environment (``$ENV``,
``env``). The callback signing key and the ``ZIGFLOW_SECRET_*`` values are read once at
start-up (the settings, the secret source) and then removed from ``os.environ`` (and so
from the C environment jq reads and child processes inherit): after that no expression
can reach them. ``/proc/<pid>/environ`` still shows the environment the process was
started with to its own user, which is why the key is best given as CALLBACK_KEYS_FILE.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from zigflow.secrets import SECRET_ENV_PREFIX

# The signing key (and where it lives) and the worker's API key for stigma-api are read by
# the settings before the workers start.
KEY_VARIABLES = ("CALLBACK_KEYS", "CALLBACK_KEYS_FILE", "ZIGFLOW_STIGMA_API_KEY")


def take_secrets(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Remove the signing key and every ``ZIGFLOW_SECRET_*`` from ``environ``; return the
    secrets (for :class:`zigflow.secrets.SecretSource`), never the key."""
    names = [name for name in environ if name.startswith(SECRET_ENV_PREFIX)]
    secrets = {name: environ.pop(name) for name in names}
    for name in KEY_VARIABLES:
        environ.pop(name, None)
    return secrets
