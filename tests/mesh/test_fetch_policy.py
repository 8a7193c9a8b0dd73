"""Tests for ``lumenize_trio.runtime._fetch_policy``: the outbound policy of proxy fetch (SSRF defence).

Names that must resolve to particular addresses (several answers, answers that change) use a fake
resolver installed with :func:`trio.socket.set_custom_hostname_resolver`, Trio's own hook, so the
real ``trio.socket.getaddrinfo`` code path still runs; ``localhost``, numeric host names and
``.invalid`` names go to the real system resolver. Requests go to the real Hypercorn test server,
and the TLS tests to a Hypercorn server with a certificate made by the ``openssl`` command.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
from functools import partial
from typing import TYPE_CHECKING

import httpx
import pytest
import trio
import trio.testing
from hypercorn.config import Config
from hypercorn.trio import serve
from hypothesis import given, strategies as st
from tests.httpserver import app  # loaded by tests/conftest.py (tests/ is no package)

from lumenize_trio import FetchError, FetchRefusedError, FetchTimeoutError, LumenizeError, clone
from lumenize_trio.runtime._fetch_policy import (
    FetchPolicy,
    PinnedTarget,
    pinned_request,
    refused,
    resolve_target,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT = FetchPolicy()


class FakeResolver(trio.abc.HostnameResolver):
    """Answers names from a table: each lookup of a name takes its next answer (the last repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[bytes] = []

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,  # noqa: A002 - trio.abc.HostnameResolver's signature
        proto: int = 0,
        flags: int = 0,
    ) -> list[
        tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[str, int] | tuple[str, int, int, int]]
    ]:
        await trio.lowlevel.checkpoint()
        assert host is not None
        assert isinstance(port, int)
        self.calls.append(host)
        queue = self.answers.get(host.decode("ascii"))
        if queue is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        out: list[
            tuple[
                socket.AddressFamily, socket.SocketKind, int, str, tuple[str, int] | tuple[str, int, int, int]
            ]
        ] = []
        for text in answer:
            if ":" in text:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (text, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (text, port)))
        return out

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        raise NotImplementedError


@pytest.fixture
async def fake_dns() -> AsyncIterator[FakeResolver]:
    """A fake resolver for this test's Trio run; numeric hosts never reach it (Trio answers those)."""
    resolver = FakeResolver({})
    previous = trio.socket.set_custom_hostname_resolver(resolver)
    try:
        yield resolver
    finally:
        trio.socket.set_custom_hostname_resolver(previous)


async def target(url: str, policy: FetchPolicy = DEFAULT) -> PinnedTarget:
    return await resolve_target(httpx.URL(url), policy)


async def refusal(url: str, policy: FetchPolicy = DEFAULT) -> FetchRefusedError:
    with pytest.raises(FetchRefusedError) as info:
        await resolve_target(httpx.URL(url), policy)
    return info.value


# --- The errors ----------------------------------------------------------------------------------


def test_fetch_errors_subclass_the_builtins_they_resemble() -> None:
    refused_error = FetchRefusedError("refused", url="http://10.0.0.5/", host="10.0.0.5")
    assert isinstance(refused_error, FetchError)
    assert isinstance(refused_error, PermissionError)
    assert isinstance(refused_error, ConnectionError)
    assert isinstance(refused_error, LumenizeError)
    assert isinstance(FetchError("x"), OSError)
    timeout = FetchTimeoutError("no response", url="http://example.com/")
    assert isinstance(timeout, TimeoutError)
    assert isinstance(timeout, LumenizeError)
    assert not isinstance(timeout, FetchError)  # a timeout promises nothing about the remote side
    assert str(refused_error) == "refused"
    assert refused_error.args == ("refused",)
    assert refused_error.errno is None
    assert (FetchError("x").url, FetchRefusedError("x").address, FetchTimeoutError("x").url) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    "exc",
    [
        FetchError("cannot fetch http://nowhere.invalid/", url="http://nowhere.invalid/"),
        FetchRefusedError(
            "refused 10.0.0.5: 10.0.0.5 is a private address (RFC 1918)",
            url="http://10.0.0.5/",
            host="10.0.0.5",
            address="10.0.0.5",
            reason="a private address (RFC 1918)",
        ),
        FetchTimeoutError("no response from http://example.com/", url="http://example.com/"),
    ],
)
def test_fetch_errors_round_trip_through_clone_with_their_attributes(exc: Exception) -> None:
    exc.__cause__ = ConnectionRefusedError(111, "Connection refused")
    copy = clone.loads(clone.dumps(exc))
    assert type(copy) is type(exc)
    assert copy.args == exc.args
    assert str(copy) == str(exc)
    assert vars(copy) == vars(exc)
    assert isinstance(copy.__cause__, ConnectionRefusedError)
    assert copy.__cause__.errno == 111


# --- refused(): every category -------------------------------------------------------------------

REFUSED = [
    # (address, words the reason must contain)
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.5", "private address (RFC 1918)"),
    ("172.16.0.1", "private address (RFC 1918)"),
    ("172.31.255.255", "private address (RFC 1918)"),
    ("192.168.1.1", "private address (RFC 1918)"),
    ("fc00::1", "unique local (private)"),
    ("fd12:3456::1", "unique local (private)"),
    ("169.254.0.1", "link-local"),
    ("fe80::1", "link-local"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("0.1.2.3", "this network"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("4000::1", "reserved"),
    ("100::1", "discard-only"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.255", "carrier-grade NAT"),
    ("192.0.0.9", "IETF protocol assignment"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("2001::1", "Teredo"),
    ("fec0::1", "site-local"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, a loopback address"),
    ("::ffff:10.1.2.3", "IPv4-mapped form of 10.1.2.3, a private address"),
    ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254, a cloud metadata endpoint"),
    ("::127.0.0.1", "IPv4-compatible form of 127.0.0.1, a loopback"),
    ("::8.8.8.8", "deprecated IPv4-compatible"),
    ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1, a loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254, a cloud metadata"),
    ("2002:7f00:1::1", "6to4 form of 127.0.0.1, a loopback"),
    ("2002:c0a8:101::", "6to4 form of 192.168.1.1, a private"),
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "100.128.0.1", "2606:4700:4700::1111", "2a00:1450::1"]
PUBLIC_WRAPPED = ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize(("text", "words"), REFUSED)
def test_refused_names_the_category(text: str, words: str) -> None:
    reason = refused(ipaddress.ip_address(text))
    assert reason is not None
    assert words in reason


@pytest.mark.parametrize("text", PUBLIC + PUBLIC_WRAPPED)
def test_refused_lets_public_addresses_through(text: str) -> None:
    """Public addresses pass, also when wrapped in IPv4-mapped, NAT64 or 6to4 form."""
    assert refused(ipaddress.ip_address(text)) is None


SPECIAL_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    # Public neighbours of the ranges above, so edges are drawn from both sides.
    "100.0.0.0/8",
    "172.0.0.0/8",
    "192.0.0.0/16",
    "198.0.0.0/8",
]


@st.composite
def ipv4_addresses(draw: st.DrawFn) -> ipaddress.IPv4Address:
    """Uniform addresses, and addresses inside (or next to) each special range."""
    if draw(st.booleans()):
        return ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
    network = ipaddress.IPv4Network(draw(st.sampled_from(SPECIAL_V4)))
    offset = draw(st.one_of(st.integers(0, 3), st.integers(0, network.num_addresses - 1)))
    return network[offset] if draw(st.booleans()) else network[-1 - offset]


def oracle(address: ipaddress.IPv4Address) -> bool:
    """Refused, by the properties of :mod:`ipaddress` (is_private covers 0/8, RFC 1918, loopback,
    link-local, documentation, benchmarking, 240/4 and the broadcast address)."""
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or address in ipaddress.IPv4Network("100.64.0.0/10")
        # Python's view of this block changed in 3.11.10 / 3.12.4 (only /29 and .170/31 before,
        # all but .9 and .10 after); the policy refuses all of it on every version.
        or address in ipaddress.IPv4Network("192.0.0.0/24")
    )


@given(ipv4_addresses())
def test_refused_agrees_with_an_ipaddress_oracle_for_ipv4(address: ipaddress.IPv4Address) -> None:
    assert (refused(address) is not None) == oracle(address)


@given(ipv4_addresses())
def test_ipv6_forms_wrapping_ipv4_are_judged_by_the_ipv4_address(address: ipaddress.IPv4Address) -> None:
    """IPv4-mapped, NAT64 and 6to4 addresses are refused exactly when the IPv4 inside is;
    IPv4-compatible (deprecated) ones always are."""
    inner_refused = refused(address) is not None
    value = int(address)
    mapped = ipaddress.IPv6Address((0xFFFF << 32) | value)
    nat64 = ipaddress.IPv6Address((0x0064_FF9B << 96) | value)
    six_to_four = ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1)
    for wrapped in (mapped, nat64, six_to_four):
        assert (refused(wrapped) is not None) == inner_refused, wrapped
    if value > 1:  # ::0.0.0.0 and ::0.0.0.1 are the unspecified and loopback addresses
        assert refused(ipaddress.IPv6Address(value)) is not None


SPECIAL_V6 = [
    "::/96",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2000::/3",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "3fff::/20",
    "4000::/3",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
]


@st.composite
def ipv6_addresses(draw: st.DrawFn) -> ipaddress.IPv6Address:
    """Uniform addresses, and addresses inside each special range."""
    if draw(st.booleans()):
        return ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
    network = ipaddress.IPv6Network(draw(st.sampled_from(SPECIAL_V6)))
    return network[draw(st.integers(0, network.num_addresses - 1))]


@given(ipv6_addresses())
def test_ipv6_passes_only_in_global_unicast_or_wrapping_public_ipv4(address: ipaddress.IPv6Address) -> None:
    """Outside 2000::/3 only the IPv4-mapped and NAT64 forms of public IPv4 addresses pass, and
    inside it the special-purpose blocks never do."""
    if refused(address) is not None:
        return
    wrappers = [ipaddress.IPv6Network(n) for n in ("::ffff:0:0/96", "64:ff9b::/96", "2002::/16")]
    if any(address in network for network in wrappers):
        inner = address.sixtofour or ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        assert refused(inner) is None
    else:
        assert address in ipaddress.IPv6Network("2000::/3")
        for blocked in ("2001::/23", "2001:db8::/32", "3fff::/20"):
            assert address not in ipaddress.IPv6Network(blocked)


# --- resolve_target: refusals --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "words"), REFUSED)
async def test_ip_literal_hosts_are_refused(text: str, words: str) -> None:
    address = ipaddress.ip_address(text)
    host = f"[{text}]" if address.version == 6 else text
    error = await refusal(f"http://{host}:8080/path?q=1")
    assert error.address == str(address)
    assert error.host == text  # as the URL writes it
    assert error.reason is not None
    assert words in error.reason
    assert str(error).startswith(f"refused {text}: {address} is ")
    assert f"open_mesh(fetch_allow=[{str(address)!r}])" in str(error)
    assert error.url == f"http://{host}:8080/path?q=1"


async def test_localhost_is_refused_by_the_real_resolver() -> None:
    error = await refusal("http://localhost:8080/")
    assert error.host == "localhost"
    assert error.reason == "a loopback address"
    assert str(error).startswith("refused localhost: it resolves to ")
    assert "fetch_allow=['localhost']" in str(error)


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1", "017700000001", "0x7f000001"])
async def test_numeric_names_that_mean_loopback_are_refused(host: str) -> None:
    """URL parsers take these for names; the system resolver turns them into 127.0.0.1."""
    error = await refusal(f"http://{host}/")
    assert error.address == "127.0.0.1"
    assert error.reason == "a loopback address"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/file", "not 'ftp'"),
        ("file:///etc/passwd", "not 'file'"),
        ("gopher://127.0.0.1:6379/_INFO", "not 'gopher'"),
        ("ws://example.com/socket", "not 'ws'"),
        ("/relative/path", "not a URL without a scheme"),
    ],
)
async def test_only_http_and_https_are_fetched(fake_dns: FakeResolver, url: str, words: str) -> None:
    error = await refusal(url, FetchPolicy.allow_all())
    assert "only http and https URLs may be fetched" in str(error)
    assert words in str(error)
    assert error.address is None
    assert fake_dns.calls == []  # refused before any lookup


async def test_a_url_without_a_host_is_refused() -> None:
    error = await refusal("http:///path")
    assert error.reason == "the URL has no host"
    assert error.host is None


async def test_the_error_url_leaves_out_user_name_and_password() -> None:
    error = await refusal("http://user:secret@10.0.0.5/x")
    assert error.url == "http://10.0.0.5/x"
    assert "secret" not in str(error)


async def test_any_refused_address_refuses_the_name(fake_dns: FakeResolver) -> None:
    """One public and one private answer: refused, whichever comes first."""
    fake_dns.answers["mixed.test"] = [["93.184.216.34", "10.0.0.5"]]
    fake_dns.answers["mixed6.test"] = [["fd00::5", "2606:4700:4700::1111"]]
    error = await refusal("https://mixed.test/")
    assert (error.host, error.address) == ("mixed.test", "10.0.0.5")
    assert str(error) == (
        "refused mixed.test: it resolves to 10.0.0.5, which is a private address (RFC 1918); "
        "allow it with open_mesh(fetch_allow=['mixed.test']) or open_mesh(fetch_allow=['10.0.0.5'])"
    )
    error = await refusal("https://mixed6.test/")
    assert error.address == "fd00::5"


async def test_name_resolution_failure_is_a_fetch_error() -> None:
    with trio.fail_after(30):  # a safety net against a hanging resolver, not an assertion
        with pytest.raises(FetchError) as info:
            await target("http://no-such-host.invalid/")
    assert type(info.value) is FetchError  # not refused: it could not even be looked up
    assert "the host 'no-such-host.invalid' could not be resolved" in str(info.value)
    assert isinstance(info.value.__cause__, socket.gaierror)
    assert info.value.url == "http://no-such-host.invalid/"


async def test_resolver_errors_without_strerror_are_reported(fake_dns: FakeResolver) -> None:
    class Broken(FakeResolver):
        async def getaddrinfo(self, *args: object, **kwargs: object) -> list[object]:  # type: ignore[override]
            raise OSError("resolver socket closed")

    trio.socket.set_custom_hostname_resolver(Broken({}))
    with pytest.raises(FetchError, match=r"could not be resolved \(resolver socket closed\)"):
        await target("http://example.test/")


async def test_a_name_with_no_usable_address_is_a_fetch_error(fake_dns: FakeResolver) -> None:
    class Raw(FakeResolver):
        async def getaddrinfo(self, *args: object, **kwargs: object) -> list[object]:  # type: ignore[override]
            # What a Python built without IPv6 support returns for IPv6 answers.
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (10, b"\x00" * 16))]

    trio.socket.set_custom_hostname_resolver(Raw({}))
    with pytest.raises(FetchError, match="resolved to no IP address"):
        await target("http://example.test/")


# --- resolve_target: what the policy allows ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.1:8080/", ["127.0.0.1"]),
        ("http://[::1]:8080/", ["::1"]),
        ("http://[::1]:8080/", ["[::1]"]),
        ("http://[::ffff:127.0.0.1]/", ["127.0.0.1"]),
        ("http://10.20.30.40/", ["10.0.0.0/8"]),
        ("http://[fd00::5]/", ["fd00::/8"]),
        ("http://169.254.169.254/latest/meta-data/", ["169.254.169.254"]),
        ("http://localhost/", ["localhost"]),
        ("http://LOCALHOST/", ["Localhost."]),
        ("http://localhost/", ["127.0.0.0/8", "::1"]),
    ],
)
async def test_allowed_addresses_networks_and_names_pass(url: str, allow: list[str]) -> None:
    pinned = await target(url, FetchPolicy(allow))
    assert refused(pinned.address) is not None  # it was refusable, and the allow list let it through
    await refusal(url)  # and the default policy does refuse it


async def test_an_allowed_name_passes_whatever_it_resolves_to(fake_dns: FakeResolver) -> None:
    fake_dns.answers["api.internal"] = [["10.0.0.5", "fd00::5"]]
    fake_dns.answers["a.b.corp.example"] = [["192.168.1.1"]]
    fake_dns.answers["corp.example"] = [["192.168.1.2"]]
    pinned = await target("http://api.internal/", FetchPolicy(["API.internal"]))
    assert pinned.address == ipaddress.ip_address("10.0.0.5")
    policy = FetchPolicy(["*.corp.example"])
    assert (await target("http://a.b.corp.example/", policy)).address == ipaddress.ip_address("192.168.1.1")
    await refusal("http://corp.example/", policy)  # a wildcard covers subdomains only


async def test_addresses_not_allowed_still_refuse_a_name(fake_dns: FakeResolver) -> None:
    fake_dns.answers["two.test"] = [["10.0.0.5", "192.168.0.9"]]
    error = await refusal("http://two.test/", FetchPolicy(["10.0.0.0/8"]))
    assert error.address == "192.168.0.9"
    pinned = await target("http://two.test/", FetchPolicy(["10.0.0.0/8", "192.168.0.0/16"]))
    assert pinned.address == ipaddress.ip_address("10.0.0.5")


async def test_allow_all_turns_the_address_check_off(fake_dns: FakeResolver) -> None:
    fake_dns.answers["meta.test"] = [["169.254.169.254", "127.0.0.1"]]
    pinned = await target("http://meta.test/", FetchPolicy.allow_all())
    assert pinned.address == ipaddress.ip_address("169.254.169.254")
    assert (await target("http://[::1]/", FetchPolicy.allow_all())).address == ipaddress.ip_address("::1")


async def test_public_names_pass_and_pin_the_first_answer(fake_dns: FakeResolver) -> None:
    fake_dns.answers["example.test"] = [["93.184.216.34", "93.184.216.34", "2606:2800:220:1::1", "fe80::1%1"]]
    fake_dns.answers["zoned.test"] = [["fe80::1%1"]]
    pinned = await target("http://example.test/", FetchPolicy(["fe80::/10"]))
    assert pinned.address == ipaddress.ip_address("93.184.216.34")
    zoned = await target("http://zoned.test/", FetchPolicy(["fe80::/10"]))
    assert zoned.address == ipaddress.IPv6Address("fe80::1")  # the zone is dropped
    assert zoned.url == httpx.URL("http://[fe80::1]/")
    await refusal("http://example.test/")  # fe80::1 is among the answers


# --- the pinned target ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "answer", "pinned_url", "host_header", "sni"),
    [
        ("http://example.test/p?q=1", "93.184.216.34", "http://93.184.216.34/p?q=1", "example.test", None),
        (
            "http://example.test:8080/p",
            "93.184.216.34",
            "http://93.184.216.34:8080/p",
            "example.test:8080",
            None,
        ),
        ("https://Example.TEST/", "93.184.216.34", "https://93.184.216.34/", "example.test", "example.test"),
        (
            "https://example.test:443/",
            "93.184.216.34",
            "https://93.184.216.34/",
            "example.test",
            "example.test",
        ),
        (
            "https://example.test:8443/a/b",
            "2606:2800:220:1::1",
            "https://[2606:2800:220:1::1]:8443/a/b",
            "example.test:8443",
            "example.test",
        ),
        (
            "https://example.test./",
            "93.184.216.34",
            "https://93.184.216.34/",
            "example.test.",
            "example.test",
        ),
        (
            "https://bücher.example/",
            "93.184.216.34",
            "https://93.184.216.34/",
            "xn--bcher-kva.example",
            "xn--bcher-kva.example",
        ),
        (
            "https://user:pw@example.test/",
            "93.184.216.34",
            "https://user:pw@93.184.216.34/",
            "example.test",
            "example.test",
        ),
    ],
)
async def test_names_are_pinned_with_host_and_sni(
    fake_dns: FakeResolver, url: str, answer: str, pinned_url: str, host_header: str, sni: str | None
) -> None:
    name = httpx.URL(url).raw_host.decode("ascii")
    fake_dns.answers[name] = [[answer]]
    pinned = await target(url)
    assert pinned == PinnedTarget(
        url=httpx.URL(pinned_url),
        host_header=host_header,
        sni_hostname=sni,
        address=ipaddress.ip_address(answer),
    )
    assert fake_dns.calls == [name.encode()]


@pytest.mark.parametrize(
    ("url", "host_header"),
    [
        ("https://93.184.216.34/x", "93.184.216.34"),
        ("https://93.184.216.34:8443/x", "93.184.216.34:8443"),
        ("http://[2606:2800:220:1::1]:8080/x", "[2606:2800:220:1::1]:8080"),
        ("https://[2606:2800:220:1::1]/x", "[2606:2800:220:1::1]"),
    ],
)
async def test_ip_literals_are_not_resolved_and_get_no_sni(
    fake_dns: FakeResolver, url: str, host_header: str
) -> None:
    pinned = await target(url)
    assert pinned.url == httpx.URL(url)
    assert pinned.host_header == host_header
    assert pinned.sni_hostname is None
    assert fake_dns.calls == []


async def test_resolve_target_is_a_checkpoint_on_every_path(fake_dns: FakeResolver) -> None:
    for url in ("http://93.184.216.34/", "http://10.0.0.5/", "ftp://example.test/"):
        with trio.CancelScope() as scope:
            scope.cancel()
            await target(url)
        assert scope.cancelled_caught, url
    assert fake_dns.calls == []


async def test_cancelling_a_lookup_returns_nothing(fake_dns: FakeResolver) -> None:
    class Slow(FakeResolver):
        async def getaddrinfo(self, *args: object, **kwargs: object) -> list[object]:  # type: ignore[override]
            await trio.sleep_forever()
            raise AssertionError("unreachable")

    trio.socket.set_custom_hostname_resolver(Slow({}))
    results: list[PinnedTarget] = []
    async with trio.open_nursery() as nursery:

        async def lookup() -> None:
            results.append(await target("http://example.test/"))

        nursery.start_soon(lookup)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert results == []


async def test_bad_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match=r"needs an httpx\.URL, not str"):
        await resolve_target("http://example.test/", DEFAULT)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a FetchPolicy, not list"):
        await resolve_target(httpx.URL("http://example.test/"), ["127.0.0.1"])  # type: ignore[arg-type]


# --- pinned_request ------------------------------------------------------------------------------


async def test_pinned_request_keeps_everything_but_the_connection(fake_dns: FakeResolver) -> None:
    fake_dns.answers["example.test"] = [["2606:2800:220:1::1"]]
    url = httpx.URL("https://example.test:8443/a?b=c")
    request = httpx.Request(
        "POST",
        url,
        headers=[("X-First", "1"), ("Accept", "a"), ("Accept", "b")],
        content=b"body",
        extensions={"timeout": {"connect": 5.0}, "sni_hostname": "stale.test"},
    )
    pinned = pinned_request(request, await resolve_target(request.url, DEFAULT))
    assert pinned.method == "POST"
    assert pinned.url == httpx.URL("https://[2606:2800:220:1::1]:8443/a?b=c")
    assert pinned.headers.multi_items() == [
        ("host", "example.test:8443"),
        ("x-first", "1"),
        ("accept", "a"),
        ("accept", "b"),
        ("content-length", "4"),
    ]
    assert pinned.content == b"body"
    assert pinned.extensions == {"timeout": {"connect": 5.0}, "sni_hostname": "example.test"}
    assert request.url == url  # the original is untouched
    assert request.extensions["sni_hostname"] == "stale.test"


async def test_pinned_request_without_sni_drops_a_stale_one() -> None:
    request = httpx.Request("GET", "https://93.184.216.34/", extensions={"sni_hostname": "stale.test"})
    pinned = pinned_request(request, await resolve_target(request.url, DEFAULT))
    assert "sni_hostname" not in pinned.extensions
    assert pinned.headers["host"] == "93.184.216.34"


async def test_pinned_request_keeps_a_streamed_body_unread() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    request = httpx.Request("PUT", "http://93.184.216.34/upload", content=chunks())
    pinned = pinned_request(request, await resolve_target(request.url, DEFAULT))
    assert pinned.stream is request.stream
    assert pinned.headers["transfer-encoding"] == "chunked"
    with pytest.raises(httpx.RequestNotRead):
        _ = pinned.content


async def test_pinned_request_refuses_a_target_of_another_url(fake_dns: FakeResolver) -> None:
    """A redirect hop must be resolved on its own; pinning it to the old target is a bug."""
    fake_dns.answers["example.test"] = [["93.184.216.34"]]
    pinned = await target("http://example.test/first")
    with pytest.raises(ValueError, match="not for the URL this target was resolved from"):
        pinned_request(httpx.Request("GET", "http://example.test/second"), pinned)
    with pytest.raises(ValueError, match="not for the URL"):
        pinned_request(httpx.Request("GET", "http://other.test/first"), pinned)


# --- real requests -------------------------------------------------------------------------------


async def test_a_localhost_url_pinned_to_127_0_0_1_reaches_the_server_with_its_host(http_server: str) -> None:
    addresses = {
        info[4][0] for info in await trio.socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    }
    if addresses != {"127.0.0.1"}:
        pytest.skip(f"localhost resolves to {sorted(addresses)} here, not to 127.0.0.1 alone")
    port = httpx.URL(http_server).port
    url = httpx.URL(f"http://localhost:{port}/echo?x=1")
    with trio.fail_after(30):
        pinned = await resolve_target(url, FetchPolicy(["127.0.0.1"]))
        assert pinned.url == httpx.URL(f"http://127.0.0.1:{port}/echo?x=1")
        async with httpx.AsyncClient() as client:
            response = await client.send(pinned_request(httpx.Request("POST", url, content=b"hi"), pinned))
    seen = response.json()
    assert dict(seen["headers"])["host"] == f"localhost:{port}"
    assert (seen["path"], seen["query"], seen["body"]) == ("/echo", "x=1", "hi")


async def test_dns_rebinding_cannot_move_a_pinned_request(fake_dns: FakeResolver, http_server: str) -> None:
    """The name is looked up once; sending the pinned request makes no second lookup, so a later
    answer (here an address that would be refused) never gets used."""
    port = httpx.URL(http_server).port
    fake_dns.answers["rebind.test"] = [["127.0.0.1"], ["10.0.0.99"]]
    url = httpx.URL(f"http://rebind.test:{port}/get")
    with trio.fail_after(30):
        pinned = await resolve_target(url, FetchPolicy(["127.0.0.1"]))
        async with httpx.AsyncClient() as client:
            response = await client.send(pinned_request(httpx.Request("GET", url), pinned))
    assert response.status_code == 200
    assert dict(response.json()["headers"])["host"] == f"rebind.test:{port}"
    assert fake_dns.calls == [b"rebind.test"]
    with pytest.raises(FetchRefusedError, match=r"10\.0\.0\.99"):  # the next lookup would be refused
        await resolve_target(url, FetchPolicy(["127.0.0.1"]))


# --- TLS: the certificate is verified against the SNI name ---------------------------------------

SNI_NAME = "pinned.test"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for ``pinned.test`` only, server key), by ``openssl``."""
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - the project's machines have it
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    ca_key, ca_cert = folder / "ca.key", folder / "ca.pem"
    key, csr, cert, ext = (
        folder / "server.key",
        folder / "server.csr",
        folder / "server.pem",
        folder / "ext.cnf",
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def run(*args: str | Path) -> None:
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca_cert, "-days", "2", "-subj", "/CN=lumenize test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={SNI_NAME}")
    ext.write_text(
        f"subjectAltName=DNS:{SNI_NAME}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    run("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", ext)  # fmt: skip
    return ca_cert, cert, key


@pytest.fixture
async def https_server(certificate: tuple[Path, Path, Path]) -> AsyncIterator[int]:
    """The test server's app over TLS on 127.0.0.1; yields the port."""
    _, cert, key = certificate
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.certfile, config.keyfile = str(cert), str(key)
    config.loglevel = "WARNING"
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config, shutdown_trigger=shutdown.wait))
        try:
            yield httpx.URL(binds[0]).port
        finally:
            shutdown.set()


@pytest.fixture
def tls_context(certificate: tuple[Path, Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


async def test_https_pinned_to_an_ip_verifies_the_certificate_for_the_name(
    fake_dns: FakeResolver, https_server: int, tls_context: ssl.SSLContext
) -> None:
    fake_dns.answers[SNI_NAME] = [["127.0.0.1"]]
    url = httpx.URL(f"https://{SNI_NAME}:{https_server}/get")
    with trio.fail_after(30):
        pinned = await resolve_target(url, FetchPolicy(["127.0.0.1"]))
        assert pinned.url.host == "127.0.0.1"
        async with httpx.AsyncClient(verify=tls_context) as client:
            response = await client.send(pinned_request(httpx.Request("GET", url), pinned))
    assert response.status_code == 200
    assert dict(response.json()["headers"])["host"] == f"{SNI_NAME}:{https_server}"


@pytest.mark.parametrize("sni", ["other.test", None])
async def test_https_fails_verification_when_the_sni_name_is_not_the_certificate_s(
    https_server: int, tls_context: ssl.SSLContext, sni: str | None
) -> None:
    """The same connection with another SNI name, or with none (the certificate is then checked
    against the IP address), fails: verification follows the SNI name."""
    extensions = {} if sni is None else {"sni_hostname": sni}
    request = httpx.Request("GET", f"https://127.0.0.1:{https_server}/get", extensions=extensions)
    with trio.fail_after(30):
        async with httpx.AsyncClient(verify=tls_context) as client:
            with pytest.raises(httpx.ConnectError) as info:
                await client.send(request)
    failures = [exc for exc in causes(info.value) if isinstance(exc, ssl.SSLCertVerificationError)]
    assert failures, "the connection failed for another reason than certificate verification"
    expected = "IP address mismatch" if sni is None else "Hostname mismatch"
    assert expected in failures[0].verify_message


def causes(exc: BaseException | None) -> Iterator[BaseException]:
    """*exc* and the exceptions it was raised from or during."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


async def test_httpx_pools_connections_by_address_not_by_sni_name(
    https_server: int, tls_context: ssl.SSLContext
) -> None:
    """Documents a caveat of httpx (0.28) that the executors must design around: a kept-alive
    connection made for one SNI name is reused for a request naming another at the same address,
    with no new certificate check. A fresh client (or a pool per name) avoids it."""
    url = f"https://127.0.0.1:{https_server}/get"
    with trio.fail_after(30):
        async with httpx.AsyncClient(verify=tls_context) as client:
            first = await client.send(httpx.Request("GET", url, extensions={"sni_hostname": SNI_NAME}))
            second = await client.send(httpx.Request("GET", url, extensions={"sni_hostname": "other.test"}))
    assert (first.status_code, second.status_code) == (200, 200)


# --- FetchPolicy ---------------------------------------------------------------------------------


def test_policy_entries_are_canonical() -> None:
    policy = FetchPolicy(
        iter(
            [
                "API.Internal.",
                "*.Corp.Example",
                "127.0.0.1",
                "127.0.0.1/32",
                "[::1]",
                "::1",
                "10.0.0.0/8",
                "Bücher.de",
            ]
        )
    )
    assert policy.allow == (
        "api.internal",
        "*.corp.example",
        "127.0.0.1",
        "::1",
        "10.0.0.0/8",
        "xn--bcher-kva.de",
    )
    assert policy == FetchPolicy(
        ["api.internal", "*.corp.example", "127.0.0.1", "::1", "10.0.0.0/8", "bücher.de"]
    )
    assert hash(policy) == hash(FetchPolicy(list(policy.allow)))
    assert FetchPolicy() == FetchPolicy(())
    assert FetchPolicy.allow_all() != FetchPolicy()
    assert FetchPolicy.allow_all().unrestricted
    assert repr(FetchPolicy(["a.test"])) == "FetchPolicy(allow=('a.test',), unrestricted=False)"


def test_policy_allows_hosts_exactly_or_by_subdomain_wildcard() -> None:
    policy = FetchPolicy(["api.internal", "*.corp.example"])
    assert policy.allows_host("api.internal")
    assert policy.allows_host("API.INTERNAL.")
    assert not policy.allows_host("x.api.internal")
    assert not policy.allows_host("api.internal.evil.test")
    assert policy.allows_host("a.corp.example")
    assert policy.allows_host("a.b.corp.example")
    assert not policy.allows_host("corp.example")
    assert not policy.allows_host("xcorp.example")


def test_policy_allows_addresses_and_their_mapped_forms() -> None:
    policy = FetchPolicy(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])
    for text in ("127.0.0.1", "::ffff:127.0.0.1", "10.255.0.1", "::ffff:10.0.0.1", "fd12::1"):
        assert policy.allows_address(ipaddress.ip_address(text)), text
    for text in ("127.0.0.2", "::1", "11.0.0.1", "fe80::1", "64:ff9b::7f00:1"):
        assert not policy.allows_address(ipaddress.ip_address(text)), text


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "10.0.0.5/8",
            "'10.0.0.5/8' is not a host name, an IP address or a network in CIDR form (10.0.0.5/8 has host bits set)",
        ),
        ("10.0.0.0/33", "'10.0.0.0/33' is not a host name, an IP address or a network in CIDR form"),
        ("api.test/8", "'api.test/8' is not a host name"),
        ("[127.0.0.1]", "'[127.0.0.1]' is not an IPv6 address in brackets"),
        ("[api.test]", "'[api.test]' is not an IPv6 address in brackets"),
        ("fe80::1%eth0", "'fe80::1%eth0' has an IPv6 zone"),
        ("http://api.test", "'http://api.test' is not a host name, an IP address or a network in CIDR form"),
        ("api.test:8080", "'api.test:8080' is not a host name"),
        ("", "'' is not a host name"),
        ("*", "'*' is not a host name"),
        ("*.", "'*.' is not a host name"),
        ("a.*.test", "'a.*.test' is not a host name"),
        ("*example.test", "'*example.test' is not a host name"),
        ("a..test", "'a..test' is not a host name"),
        ("-a.test", "'-a.test' is not a host name"),
        (" api.test", "' api.test' is not a host name"),
        ("a" * 64 + ".test", "is not a host name"),
        (".".join(["a" * 60] * 5), "is not a host name"),
        ("1.2.3", "'1.2.3' is not a host name"),
        ("10.0.0.256", "'10.0.0.256' is not a host name"),
        ("0x7f.0x1", "'0x7f.0x1' is not a host name"),
        ("bad\u2488.test", "is not a host name"),
    ],
)
def test_policy_entries_are_validated(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match="allow entry ") as info:
        FetchPolicy([entry])
    assert message in str(info.value)


def test_policy_arguments_of_the_wrong_type_are_type_errors() -> None:
    with pytest.raises(TypeError, match=r"not a single string: write allow=\['127.0.0.1'\]"):
        FetchPolicy("127.0.0.1")
    with pytest.raises(TypeError, match="allow must be an iterable of strings, not int"):
        FetchPolicy(8)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"allow entries must be strings, not bytes \(b'api.test'\)"):
        FetchPolicy([b"api.test"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        FetchPolicy(unrestricted=1)  # type: ignore[arg-type]


def test_targets_and_policies_are_frozen() -> None:
    policy = FetchPolicy()
    with pytest.raises(AttributeError):
        policy.unrestricted = True  # type: ignore[misc]
