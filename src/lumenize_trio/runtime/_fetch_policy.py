"""The outbound policy of proxy fetch: which URLs a node may fetch (SSRF defence).

Theory of operation
-------------------
A fetch handler sends requests to URLs its callers name, from inside the network the node runs
in. Without a policy any caller could reach what only the node should reach: the loopback
interface, the private network, the cloud metadata endpoint. So before every request (and every
redirect hop, which is a new request) the executor calls :func:`resolve_target`, which keeps
three rules:

1. **Only http and https.** Anything else is refused before a lookup is made.
2. **Every address counts.** The host is resolved once, with :func:`trio.socket.getaddrinfo`, and
   the URL is refused when *any* of the addresses is refused: a name that resolves to one public
   and one private address is refused, since the connection could use either. An IP-literal host
   is checked as it is.
3. **Connect to what was checked.** The result is a :class:`PinnedTarget` whose URL names the
   checked address instead of the host, and :func:`pinned_request` carries the host name in the
   ``Host`` header and (for https) in httpx's ``sni_hostname`` request extension, which httpcore
   uses both as the TLS SNI name and as the name the certificate is verified against. No second
   lookup happens, so a DNS answer that changes between the check and the connection (DNS
   rebinding) cannot move the connection somewhere else.

Which addresses are refused is written out in the tables below rather than taken from
:mod:`ipaddress`'s ``is_private``/``is_global``, whose answers changed between Python patch
releases (3.11.10 and 3.12.4 redrew 192.0.0.0/24, for one): the policy must not depend on the
interpreter's patch level, and every refusal gets a reason a person can act on. The tables follow
the IANA special-purpose address registries, plus the cloud metadata addresses. IPv6 addresses
that wrap an IPv4 address (IPv4-mapped ``::ffff:0:0/96``, IPv4-compatible ``::/96``, NAT64
``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the IPv4 address inside, and IPv6 addresses
outside global unicast ``2000::/3`` are refused as reserved.

A mesh can allow more with an allow list (:class:`FetchPolicy`): host names (exact, or ``*.``
for subdomains), single addresses, and networks. :meth:`FetchPolicy.allow_all` turns the address
check off altogether, for trusted deployments only.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Final, Self, TypeAlias, final

import attrs
import httpx
import trio

from .._exceptions import FetchError, FetchRefusedError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

IPAddress: TypeAlias = "ipaddress.IPv4Address | ipaddress.IPv6Address"
IPNetwork: TypeAlias = "ipaddress.IPv4Network | ipaddress.IPv6Network"

_SCHEMES: Final = {"http": 80, "https": 443}

# The refused ranges. The first matching row gives the reason, so specific rows come first.
_METADATA: Final = "a cloud metadata endpoint"
_PRIVATE_V4: Final = "a private address (RFC 1918)"
_V4_RULES: Final = tuple(
    (ipaddress.IPv4Network(network), reason)
    for network, reason in (
        ("169.254.169.254/32", _METADATA),  # AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack
        ("169.254.170.2/32", _METADATA),  # AWS ECS task metadata
        ("100.100.100.200/32", _METADATA),  # Alibaba Cloud
        ("0.0.0.0/32", "the unspecified address"),
        ("0.0.0.0/8", "a 'this network' address (0.0.0.0/8)"),
        ("10.0.0.0/8", _PRIVATE_V4),
        ("100.64.0.0/10", "a carrier-grade NAT address (100.64.0.0/10)"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", _PRIVATE_V4),
        # IANA: not globally reachable, but for two anycast addresses that no fetch needs.
        ("192.0.0.0/24", "an IETF protocol assignment (192.0.0.0/24)"),
        ("192.0.2.0/24", "a documentation address (192.0.2.0/24)"),
        ("192.168.0.0/16", _PRIVATE_V4),
        ("198.18.0.0/15", "a benchmarking address (198.18.0.0/15)"),
        ("198.51.100.0/24", "a documentation address (198.51.100.0/24)"),
        ("203.0.113.0/24", "a documentation address (203.0.113.0/24)"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
    )
)
_V6_RULES: Final = tuple(
    (ipaddress.IPv6Network(network), reason)
    for network, reason in (
        ("fd00:ec2::254/128", _METADATA),  # AWS over IPv6
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address (64:ff9b:1::/48)"),
        ("100::/64", "a discard-only address (100::/64)"),
        ("2001::/23", "an IETF protocol assignment (2001::/23, Teredo included)"),
        ("2001:db8::/32", "a documentation address (2001:db8::/32)"),
        ("3fff::/20", "a documentation address (3fff::/20)"),
        ("fc00::/7", "a unique local (private) address (fc00::/7)"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address (deprecated)"),
        ("ff00::/8", "a multicast address"),
    )
)
#: IPv6 forms that wrap an IPv4 address: (network, name of the form, where the IPv4 bits start,
#: the reason to refuse even when the IPv4 address is public, or None).
_V6_WRAPPERS: Final = tuple(
    (ipaddress.IPv6Network(network), form, shift, always)
    for network, form, shift, always in (
        ("::ffff:0:0/96", "the IPv4-mapped form", 0, None),
        ("::/96", "the IPv4-compatible form", 0, "a deprecated IPv4-compatible address (::/96)"),
        ("64:ff9b::/96", "the NAT64 form", 0, None),
        ("2002::/16", "the 6to4 form", 80, None),
    )
)
_GLOBAL_UNICAST_V6: Final = ipaddress.IPv6Network("2000::/3")


def refused(address: IPAddress) -> str | None:
    """Why the outbound policy refuses *address* unless it is allowed, or ``None`` if it does not.

    The reason reads after "... is", like ``"a private address (RFC 1918)"`` or
    ``"the IPv4-mapped form of 127.0.0.1, a loopback address"``. A pure function.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return _refused_v4(address)
    return _refused_v6(address)


def _refused_v4(address: ipaddress.IPv4Address) -> str | None:
    for network, reason in _V4_RULES:
        if address in network:
            return reason
    return None


def _refused_v6(address: ipaddress.IPv6Address) -> str | None:
    for network, reason in _V6_RULES:
        if address in network:
            return reason
    for network, form, shift, always in _V6_WRAPPERS:
        if address in network:
            inner = ipaddress.IPv4Address((int(address) >> shift) & 0xFFFF_FFFF)
            why = _refused_v4(inner)
            return f"{form} of {inner}, {why}" if why is not None else always
    if address not in _GLOBAL_UNICAST_V6:
        return "a reserved address (outside global unicast 2000::/3)"
    return None


def _canonical_allow(allow: Iterable[str]) -> tuple[str, ...]:
    if isinstance(allow, (str, bytes)):
        raise TypeError(f"allow must be an iterable of strings, not a single string: write allow=[{allow!r}]")
    try:
        entries = list(allow)
    except TypeError:
        raise TypeError(f"allow must be an iterable of strings, not {type(allow).__name__}") from None
    canonical: dict[str, None] = {}
    for entry in entries:
        parsed = _parse_entry(entry)
        if isinstance(parsed, str):
            canonical[parsed] = None
        elif parsed.prefixlen == parsed.max_prefixlen:
            canonical[str(parsed.network_address)] = None
        else:
            canonical[str(parsed)] = None
    return tuple(canonical)


#: A label of an ASCII host name: letters, digits, hyphens inside, underscores (seen in the wild).
_LABEL: Final = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
#: A last label that makes a name an IPv4 address in URL parsers and ``inet_aton``.
_NUMERIC_LABEL: Final = re.compile(r"[0-9]+|0x[0-9a-f]*")


def _parse_entry(entry: object) -> str | IPNetwork:
    """A canonical host name pattern (``*.`` kept) or a network (single addresses as /32, /128)."""
    if not isinstance(entry, str):
        raise TypeError(f"allow entries must be strings, not {type(entry).__name__} ({entry!r})")
    kinds = "a host name, an IP address or a network in CIDR form"
    if "%" in entry:
        raise ValueError(f"allow entry {entry!r} has an IPv6 zone (%...); zones are not supported")
    if "/" in entry:
        try:
            return ipaddress.ip_network(entry)
        except ValueError as exc:
            raise ValueError(f"allow entry {entry!r} is not {kinds} ({exc})") from None
    if entry.startswith("["):
        try:
            return ipaddress.ip_network(ipaddress.IPv6Address(entry.removeprefix("[").removesuffix("]")))
        except ValueError:
            raise ValueError(f"allow entry {entry!r} is not an IPv6 address in brackets") from None
    try:
        return ipaddress.ip_network(entry)  # a single address: no "/" here
    except ValueError:
        pass
    wildcard = entry.startswith("*.")
    name = entry[2:] if wildcard else entry
    name = name.removesuffix(".")
    if not name.isascii():
        try:
            name = httpx.URL(scheme="http", host=name).raw_host.decode("ascii")
        except httpx.InvalidURL:
            raise ValueError(f"allow entry {entry!r} is not {kinds}") from None
    name = name.lower()
    labels = name.split(".")
    if (
        len(name) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or _NUMERIC_LABEL.fullmatch(labels[-1])
    ):
        raise ValueError(f"allow entry {entry!r} is not {kinds}")
    return f"*.{name}" if wildcard else name


@final
@attrs.frozen
class FetchPolicy:
    """What proxy fetch may reach beyond the public internet.

    By default (``FetchPolicy()``) only public addresses may be fetched: loopback, private,
    link-local, metadata and the other special-purpose addresses are refused (see
    :func:`resolve_target`). Each entry of *allow* lets some of them through:

    - a host name, like ``"api.internal"``: that exact name (letter case and a trailing dot do
      not matter; international names may be given in either form), whatever it resolves to;
    - ``"*."`` and a host name, like ``"*.corp.example"``: every subdomain of that name, at any
      depth (``a.corp.example``, ``a.b.corp.example``), but not the name itself;
    - an IP address, like ``"127.0.0.1"`` or ``"::1"`` (``"[::1]"`` too): that address, also in
      its IPv4-mapped IPv6 form;
    - a network in CIDR form, like ``"10.0.0.0/8"`` or ``"fd00::/8"``: every address in it (the
      bits after the prefix must be zero).

    A host name entry trusts the name's DNS: whatever it resolves to is fetched. Prefer address
    and network entries where you can.

    Args:
        allow: the entries (an iterable of strings; a single string is refused, since it would
            be read as one entry per character).
        unrestricted: turn the address check off. Use :meth:`allow_all` instead, which says so.

    Raises:
        TypeError: *allow* is a string or not iterable, or an entry is not a string.
        ValueError: an entry is neither a host name, an IP address nor a network in CIDR form
            (the message names the entry).

    Attributes:
        allow: the entries in canonical form (lower-case ASCII names, compressed addresses),
            without repeats, in the order given.
        unrestricted: whether the address check is off.
    """

    allow: tuple[str, ...] = attrs.field(default=(), converter=_canonical_allow)
    unrestricted: bool = attrs.field(
        default=False, kw_only=True, validator=attrs.validators.instance_of(bool)
    )
    _hosts: frozenset[str] = attrs.field(init=False, repr=False, eq=False)
    _suffixes: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)
    _networks: tuple[IPNetwork, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for entry in self.allow:
            parsed = _parse_entry(entry)
            if isinstance(parsed, str):
                if parsed.startswith("*."):
                    suffixes.append(parsed[1:])
                else:
                    hosts.add(parsed)
            else:
                networks.append(parsed)
        object.__setattr__(self, "_hosts", frozenset(hosts))
        object.__setattr__(self, "_suffixes", tuple(suffixes))
        object.__setattr__(self, "_networks", tuple(networks))

    @classmethod
    def allow_all(cls) -> Self:
        """A policy that refuses no address: **the SSRF defence is off**.

        Only for trusted deployments where every caller may reach everything the node can reach
        (its loopback interface, its private network, the cloud metadata endpoint). Schemes
        other than http and https are still refused, and targets are still pinned.
        """
        return cls(unrestricted=True)

    def allows_host(self, name: str) -> bool:
        """Whether a host name entry allows *name* (an ASCII name, as in ``httpx.URL.raw_host``).

        Letter case and one trailing dot are ignored.
        """
        name = name.lower().removesuffix(".")
        return name in self._hosts or any(name.endswith(suffix) for suffix in self._suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        """Whether an address or network entry allows *address* (or the IPv4 address it maps)."""
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(
            candidate in network
            for candidate in candidates
            for network in self._networks
            if candidate.version == network.version
        )


@final
@attrs.frozen
class PinnedTarget:
    """Where a checked URL connects: made by :func:`resolve_target`, used by :func:`pinned_request`.

    Attributes:
        url: the URL with its host replaced by the checked address (IPv6 in brackets); scheme,
            port, path, query and user information are kept.
        host_header: the original ``host[:port]`` (as httpx writes it: ASCII, IPv6 in brackets,
            the port only when it is not the scheme's default), for the ``Host`` header.
        sni_hostname: the original host name (ASCII, without a trailing dot) for https URLs whose
            host is a name, else ``None``: the TLS server name and the name the certificate must
            match.
        address: the checked address the URL now names.
    """

    url: httpx.URL
    host_header: str
    sni_hostname: str | None
    address: IPAddress


async def resolve_target(url: httpx.URL, policy: FetchPolicy) -> PinnedTarget:
    """Check *url* against *policy* and pin it to a checked address.

    Refuses a scheme other than http or https and a URL without a host. An IP-literal host is
    checked as it is; a name is resolved once with :func:`trio.socket.getaddrinfo` and every
    address it resolves to is checked. An address passes when an address or network entry of
    the policy allows it, or when :func:`refused` finds nothing wrong with it; every address of a
    name passes when a host name entry allows the name; everything passes under
    :meth:`FetchPolicy.allow_all`. The result is pinned to the first address.

    Check each redirect hop again: a redirect names a new URL.

    Args:
        url: the URL to fetch.
        policy: the mesh's outbound policy.

    Returns:
        the :class:`PinnedTarget` to send the request to (see :func:`pinned_request`).

    Raises:
        FetchRefusedError: the policy refused the URL; the message names the host, the address
            and why, and how to allow it.
        FetchError: the host could not be resolved (the resolver's error is the ``__cause__``).
        TypeError: *url* is not an ``httpx.URL`` or *policy* not a :class:`FetchPolicy`.

    Cancellation:
        Always a checkpoint (on every path, refusals included). Cancelled during a lookup, the
        lookup is abandoned (its thread finishes on its own) and nothing is returned.
    """
    await trio.lowlevel.checkpoint()
    if not isinstance(url, httpx.URL):
        raise TypeError(f"resolve_target() needs an httpx.URL, not {type(url).__name__}")
    if not isinstance(policy, FetchPolicy):
        raise TypeError(f"resolve_target() needs a FetchPolicy, not {type(policy).__name__}")
    shown = str(url.copy_with(userinfo=b""))
    host = url.host
    default_port = _SCHEMES.get(url.scheme)
    if default_port is None:
        scheme = repr(url.scheme) if url.scheme else "a URL without a scheme"
        reason = f"only http and https URLs may be fetched, not {scheme}"
        raise FetchRefusedError(f"refused {shown}: {reason}", url=shown, host=host or None, reason=reason)
    if not host:
        reason = "the URL has no host"
        raise FetchRefusedError(f"refused {shown}: {reason}", url=shown, reason=reason)
    literal = _ip_literal(host)
    name: str | None = None
    if literal is not None:
        addresses: Sequence[IPAddress] = (literal,)
    else:
        name = url.raw_host.decode("ascii").removesuffix(".")
        addresses = await _resolve(url, url.port or default_port, shown)
    if not policy.unrestricted and (name is None or not policy.allows_host(name)):
        for address in addresses:
            why = None if policy.allows_address(address) else refused(address)
            if why is not None:
                raise FetchRefusedError(
                    _refusal(host, name, address, why), url=shown, host=host, address=str(address), reason=why
                )
    address = addresses[0]
    sni = name if name is not None and url.scheme == "https" else None
    return PinnedTarget(
        url=url.copy_with(host=str(address)),
        host_header=url.netloc.decode("ascii"),
        sni_hostname=sni,
        address=address,
    )


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _resolve(url: httpx.URL, port: int, shown: str) -> list[IPAddress]:
    """The addresses *url*'s host resolves to, in the resolver's order, without repeats."""
    try:
        # Looked up on the module at call time, so a custom resolver or a test double applies.
        infos = await trio.socket.getaddrinfo(url.raw_host, port, type=trio.socket.SOCK_STREAM)
    except OSError as exc:
        detail = exc.strerror or str(exc)
        raise FetchError(
            f"cannot fetch {shown}: the host {url.host!r} could not be resolved ({detail})", url=shown
        ) from exc
    addresses: dict[IPAddress, None] = {}
    for _family, _type, _proto, _canonname, sockaddr in infos:
        text = sockaddr[0]
        if isinstance(text, str):
            address = ipaddress.ip_address(text)
            if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
                # A zone only says which interface; the checks and the pinned URL use the address.
                address = ipaddress.IPv6Address(int(address))
            addresses[address] = None
    if not addresses:
        raise FetchError(f"cannot fetch {shown}: the host {url.host!r} resolved to no IP address", url=shown)
    return list(addresses)


def _refusal(host: str, name: str | None, address: IPAddress, why: str) -> str:
    if name is None:
        return f"refused {host}: {address} is {why}; allow it with open_mesh(fetch_allow=[{str(address)!r}])"
    return (
        f"refused {host}: it resolves to {address}, which is {why}; allow it with "
        f"open_mesh(fetch_allow=[{name!r}]) or open_mesh(fetch_allow=[{str(address)!r}])"
    )


def pinned_request(request: httpx.Request, target: PinnedTarget) -> httpx.Request:
    """A copy of *request* that connects to *target*'s checked address.

    The copy has *target*'s URL, the same method, headers and body (the same stream: a streamed
    body is not read), with ``Host`` set to ``target.host_header`` and the ``sni_hostname``
    extension set to ``target.sni_hostname`` when there is one (and removed when there is not).
    Other extensions (the timeouts, ``trace``) are kept. httpcore sends ``sni_hostname`` as the
    TLS server name and verifies the certificate against it rather than against the IP address.

    Caveat: httpx pools connections by scheme, address and port, not by SNI name. A client that
    keeps connections alive may send a request for one name over a connection made (and whose
    certificate was verified) for another name at the same address; use a client per origin
    name, or no keep-alive, where that matters.

    Raises:
        ValueError: *request* is not for the URL *target* was resolved from (resolve every URL,
            redirects included, before pinning it).
    """
    if (
        request.url.netloc.decode("ascii") != target.host_header
        or request.url.copy_with(host=str(target.address)) != target.url
    ):
        shown = request.url.copy_with(userinfo=b"")
        raise ValueError(f"the request is for {shown}, not for the URL this target was resolved from")
    headers = httpx.Headers(request.headers)
    headers["Host"] = target.host_header
    extensions = dict(request.extensions)
    extensions.pop("sni_hostname", None)
    if target.sni_hostname is not None:
        extensions["sni_hostname"] = target.sni_hostname
    pinned = httpx.Request(
        request.method, target.url, headers=headers, stream=request.stream, extensions=extensions
    )
    if isinstance(request.stream, httpx.ByteStream):
        pinned.read()  # like a request built with content=: .content is readable at once
    return pinned
