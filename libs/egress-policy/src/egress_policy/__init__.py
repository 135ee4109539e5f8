"""Where untrusted input may make the system connect: the egress policy.

Workflow documents (``call: http``, ``call: grpc``) and agent tools name URLs that nobody
vetted. ``EgressPolicy`` decides which destinations they may reach (allow and deny rules
over networks and host names, plus built-in refusals of loopback, link-local and cloud
metadata addresses), ``EgressPolicy.async_client`` gives an httpx client that connects only
to vetted addresses (pinned: no DNS-rebinding window), and ``read_limited`` reads a
response body up to a size limit.
"""

from egress_policy._errors import EgressDenied, ResponseTooLarge
from egress_policy._limits import DEFAULT_MAX_RESPONSE_BYTES, read_limited
from egress_policy._policy import EgressPolicy
from egress_policy._rules import (
    BUILTIN_REFUSALS,
    BUILTIN_REFUSED_NAMES,
    HostRule,
    NetworkRule,
    Rule,
    parse_rule,
)

__all__ = [
    "BUILTIN_REFUSALS",
    "BUILTIN_REFUSED_NAMES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "EgressDenied",
    "EgressPolicy",
    "HostRule",
    "NetworkRule",
    "ResponseTooLarge",
    "Rule",
    "parse_rule",
    "read_limited",
]
