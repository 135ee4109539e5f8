"""Parsing allow / deny lists: every rule kind, errors that name the entry, and properties."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from egress_policy import EgressPolicy, HostRule, NetworkRule, parse_rule


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("10.0.0.0/8", NetworkRule(ipaddress.ip_network("10.0.0.0/8"))),
        ("::1/128", NetworkRule(ipaddress.ip_network("::1/128"))),
        ("fd00::/8", NetworkRule(ipaddress.ip_network("fd00::/8"))),
        ("192.0.2.7", NetworkRule(ipaddress.ip_network("192.0.2.7/32"))),
        ("2001:db8::1", NetworkRule(ipaddress.ip_network("2001:db8::1/128"))),
        ("[2001:db8::1]", NetworkRule(ipaddress.ip_network("2001:db8::1/128"))),
        ("::ffff:127.0.0.1", NetworkRule(ipaddress.ip_network("127.0.0.1/32"))),
        ("api.example.com", HostRule("api.example.com")),
        ("API.Example.COM.", HostRule("api.example.com")),
        ("localhost", HostRule("localhost")),
        ("*.example.com", HostRule("example.com", wildcard=True)),
        ("bücher.example", HostRule("xn--bcher-kva.example")),
    ],
)
def test_every_rule_kind(entry: str, rule: NetworkRule | HostRule) -> None:
    assert parse_rule(entry) == rule


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("10.0.0.1/8", "has host bits set"),
        ("10.0.0.0/33", "10.0.0.0/33"),
        ("999.1.1.1", "cannot end in a number"),
        ("http://example.com", "not a URL"),
        ("example.com:443", "a rule takes no port"),
        ("*", "not a CIDR network, an IP address or a host name"),
        ("a.*.example.com", "not a CIDR network, an IP address or a host name"),
        ("-bad.example.com", "not a CIDR network, an IP address or a host name"),
        ("*.", "empty host"),
    ],
)
def test_a_bad_entry_is_named(entry: str, reason: str) -> None:
    with pytest.raises(ValueError, match="bad egress rule") as caught:
        parse_rule(entry)
    assert repr(entry) in str(caught.value)
    assert reason in str(caught.value)


def test_lists_skip_blanks_and_name_the_list_of_a_bad_entry() -> None:
    policy = EgressPolicy.parse(allow=" 10.0.0.0/8 , ,*.example.com,", deny="10.9.0.0/16")
    assert [str(rule) for rule in policy.allow] == ["10.0.0.0/8", "*.example.com"]
    assert [str(rule) for rule in policy.deny] == ["10.9.0.0/16"]
    with pytest.raises(ValueError, match=r"^deny: bad egress rule 'nope/1'"):
        EgressPolicy.parse(deny="10.0.0.0/8,nope/1")
    with pytest.raises(ValueError, match=r"^allow: bad egress rule '1.2.3.4/40'"):
        EgressPolicy.parse(allow="1.2.3.4/40")


def test_the_defaults_and_a_bad_limit() -> None:
    policy = EgressPolicy.parse()
    assert (policy.allow, policy.deny, policy.max_response_bytes) == ((), (), 10 * 1024 * 1024)
    with pytest.raises(ValueError, match="max_response_bytes must be positive, not 0"):
        EgressPolicy.parse(max_response_bytes=0)


networks = st.one_of(
    st.builds(
        lambda address, prefix: ipaddress.ip_network(f"{address}/{prefix}", strict=False),
        st.ip_addresses(v=4),
        st.integers(0, 32),
    ),
    st.builds(
        lambda address, prefix: ipaddress.ip_network(f"{address}/{prefix}", strict=False),
        st.ip_addresses(v=6),
        st.integers(0, 128),
    ),
)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
names = (
    st.lists(labels, min_size=1, max_size=5)
    .map(".".join)
    .filter(lambda name: not name.rsplit(".", 1)[-1].isdigit())
)


@given(networks)
def test_a_network_reads_back_as_itself(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> None:
    rule = parse_rule(str(network))
    assert isinstance(rule, NetworkRule)
    if network.version == 6 and network.network_address.ipv4_mapped and network.prefixlen == 128:
        return  # an IPv4-mapped address is read as the IPv4 address it maps
    assert rule.network == network


@given(names, st.booleans())
def test_a_host_name_reads_back_as_itself(name: str, wildcard: bool) -> None:
    text = f"*.{name}" if wildcard else name
    rule = parse_rule(text.upper())
    assert rule == HostRule(name, wildcard=wildcard)
    assert str(rule) == text


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_a_value_error_naming_it(text: str) -> None:
    refusal: ValueError | None = None
    try:
        EgressPolicy.parse(allow=text)
    except ValueError as err:
        refusal = err
    assert refusal is None or str(refusal).startswith("allow: bad egress rule ")
