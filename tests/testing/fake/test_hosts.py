"""The ``Host`` check of the local Runtype (``fake/hosts.py``): loopback names only, as a DNS-rebinding page never
sends one. Properties over generated ``Host`` values, then the decided edge cases one by one."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.provisional import domains

from runtype_provider.testing.fake.hosts import host_name_error, host_refusal, is_loopback_name, split_host


def refused(host: str, allowed: tuple[str, ...] = ()) -> bool:
    return host_refusal([(b"host", host.encode())], allowed) is not None


def mixed_case(draw: st.DrawFn, text: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c for c in text)


@st.composite
def loopback_names(draw: st.DrawFn) -> str:
    """``localhost`` in any case, a dotted 127/8 address, or ``::1`` in brackets in any of its spellings."""
    kind = draw(st.sampled_from(["localhost", "ipv4", "ipv6"]))
    if kind == "localhost":
        return mixed_case(draw, "localhost")
    if kind == "ipv4":
        return str(ipaddress.IPv4Address(0x7F000000 + draw(st.integers(0, 2**24 - 1))))
    one = ipaddress.IPv6Address("::1")
    return (
        "[" + mixed_case(draw, draw(st.sampled_from([one.compressed, one.exploded, "0:0:0:0:0:0:0:1", "::0:1"]))) + "]"
    )


@st.composite
def with_port(draw: st.DrawFn, names: st.SearchStrategy[str]) -> str:
    name = draw(names)
    port = draw(st.none() | st.integers(0, 65535))
    return name if port is None else f"{name}:{port}"


def attacker_names() -> st.SearchStrategy[str]:
    """Names a web page's owner can point at 127.0.0.1: any public domain, also one that starts or ends like a
    loopback name, and ``localhost`` with a trailing dot or as a parent domain."""
    public = domains()
    return st.one_of(
        public,
        st.builds(lambda loop, domain: f"{loop}.{domain}", loopback_names(), public),
        st.builds(lambda domain, loop: f"{domain}.{loop}", public, st.sampled_from(["localhost", "127.0.0.1"])),
        st.builds(lambda loop: f"{loop}.", loopback_names()),
        st.builds(lambda loop, junk: f"{loop}{junk}", loopback_names(), st.sampled_from(["x", "-", "_", "%25lo"])),
    )


def oracle_is_loopback(value: str) -> bool:
    """An independent reading of a ``Host`` value: ``name[:port]``, the name ``localhost`` or a loopback IP."""
    match = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::([0-9]{1,5}))?", value)
    if not match or (match.group(2) and int(match.group(2)) > 65535):
        return False
    name = match.group(1)
    if name.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
    except ValueError:
        return False
    return address.is_loopback and (address.version == 6) == name.startswith("[")


@given(with_port(loopback_names()))
def test_every_loopback_name_with_or_without_a_port_is_answered(host):
    assert not refused(host), host


@given(with_port(attacker_names()))
def test_a_name_a_web_page_can_rebind_is_refused(host):
    assert refused(host), host


@given(st.text(max_size=40) | with_port(st.text(alphabet="lochst0127.:[]1fF", max_size=25)))
def test_whatever_is_answered_is_a_loopback_name(host):
    if not refused(host):
        assert oracle_is_loopback(host), host


@given(with_port(attacker_names()))
def test_allowed_hosts_add_exactly_the_names_given(host):
    name = split_host(host.lower())
    if name is not None and host_name_error(name) is None:
        assert not refused(host, (name.upper(),))
        assert refused(host, ("other.example",))


@pytest.mark.parametrize(
    ("host", "answered"),
    [
        ("localhost", True),
        ("LocalHost:8765", True),
        ("127.0.0.1:1", True),
        ("127.255.255.254", True),
        ("[::1]:8080", True),
        ("localhost.", False),  # decided: refused (clients never send it; one canonical spelling)
        ("localhost.:80", False),
        ("evil.localhost", False),
        ("127.0.0.1.evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("evil.example", False),
        ("127.1", False),  # only the standard dotted form
        ("2130706433", False),
        ("0x7f.0.0.1", False),
        ("127.0.0.01", False),
        ("128.0.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),  # an IPv6 address needs its brackets
        ("[::1%25lo]", False),
        ("[::ffff:127.0.0.1]", False),
        ("[::2]", False),
        ("localhost:", False),
        ("localhost:65536", False),
        ("localhost:80:80", False),
        ("localhost x", False),
        (" localhost", False),
        ("", False),
    ],
)
def test_decided_edge_cases(host, answered):
    assert refused(host) is not answered


def test_no_host_header_or_several_are_refused():
    assert host_refusal([]) == "the request has no Host header"
    assert host_refusal([(b"host", b"localhost"), (b"Host", b"localhost")]) == "the request has several Host headers"
    assert host_refusal([(b"Host", b"localhost"), (b"x-forwarded-host", b"evil.example")]) is None


def test_the_refusal_names_the_host_shortened():
    reason = host_refusal([(b"host", b"evil.example:80")])
    assert reason is not None and "'evil.example:80' is not a loopback name" in reason
    long_reason = host_refusal([(b"host", b"a" * 5000)])
    assert long_reason is not None and len(long_reason) < 400


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]"])
def test_is_loopback_name_takes_names_without_port(name):
    assert is_loopback_name(name)
    assert not is_loopback_name(name + ":80")


@pytest.mark.parametrize("name", ["runtype.test", "Host-1.Example", "10.0.0.5", "[fe80::1]", "a" * 63])
def test_host_name_error_accepts_explicit_names(name):
    assert host_name_error(name) is None


@pytest.mark.parametrize(
    "name",
    ["*", "*.example", "", "localhost.", "host:80", "-a.example", "a..b", "a" * 64, "[::1%lo]", "[nope]", "999.0.0.1",
     "a b", 5, None],
)  # fmt: skip
def test_host_name_error_refuses_wildcards_ports_and_malformed_names(name):
    assert host_name_error(name)
