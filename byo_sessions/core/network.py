"""IP addresses, CIDR networks and the request's client IP.

Addresses and networks come from request headers, admin forms and policy
JSON, so every parser takes arbitrary input and raises only
:class:`InvalidIpAddress` or :class:`InvalidNetwork` with a readable reason.

IPv4-mapped IPv6 (``::ffff:1.2.3.4``, what dual-stack sockets report for IPv4
clients) is always converted to plain IPv4, for addresses and for networks of
prefix /96 or longer, so ``10.0.0.0/8`` matches a client seen as
``::ffff:10.1.2.3``. Otherwise IPv4 and IPv6 never match each other.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from python_ipware import IpWare
from python_ipware.modern.parsers import split_proxy_chain

__all__ = [
    "IpAddress",
    "IpNetwork",
    "InvalidIpAddress",
    "InvalidNetwork",
    "client_ip",
    "forwarded_meta_keys",
    "find_matching_network",
    "normalise_ip",
    "parse_ip",
    "parse_network",
    "parse_networks",
]

IpAddress = IPv4Address | IPv6Address
IpNetwork = IPv4Network | IPv6Network

CHAIN_HEADER = "X-Forwarded-For"
DEFAULT_FORWARDED_HEADERS: tuple[str, ...] = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP")
# RFC 9110 token without "_": WSGI/ASGI servers turn "-" into "_" in META keys, so a name
# with "_" would be ambiguous (many servers drop such headers for that reason).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^`|~0-9A-Za-z]+")
_MAPPED = IPv6Network("::ffff:0:0/96")
_MAX_INPUT = 100  # longer than any address or CIDR; keeps error messages small
_SHOWN_CHARS = 60


def _shown(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


class InvalidIpAddress(ValueError):
    """Not an IP address; ``value`` is what was given, ``reason`` a sentence naming it."""

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


class InvalidNetwork(ValueError):
    """Not a usable CIDR network; ``index`` is set when it came from a list."""

    def __init__(self, value: object, reason: str, *, index: int | None = None) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason
        self.index = index


def _unmap(ip: IpAddress) -> IpAddress:
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _unmap_network(net: IpNetwork) -> IpNetwork:
    if isinstance(net, IPv6Network) and net.prefixlen >= 96 and net.subnet_of(_MAPPED):
        return IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96))
    return net


def _address(text: str) -> IpAddress:
    """Parse a stripped, non-empty address; raises ValueError with a reason."""
    if "%" in text:
        raise ValueError(f"{_shown(text)} has an IPv6 zone id (%...), which is not allowed.")
    try:
        return _unmap(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{_shown(text)} is not an IPv4 or IPv6 address.") from None


def parse_ip(value: str) -> IpAddress:
    """Parse an address (surrounding whitespace ignored, mapped IPv6 -> IPv4).

    A policy's IP lists check the request's address on every request, and client addresses
    repeat, so parsed addresses (immutable) are cached like canonical forms; failures are not."""
    if not isinstance(value, str):
        raise InvalidIpAddress(value, f"{_shown(value)} is not an IP address (expected text).")
    return _parsed_ip(value)


@functools.lru_cache(maxsize=4096)
def _parsed_ip(value: str) -> IpAddress:
    text = value.strip()
    if not text:
        raise InvalidIpAddress(value, "The IP address is empty.")
    if len(text) > _MAX_INPUT:
        raise InvalidIpAddress(value, f"{_shown(text)} is too long to be an IP address.")
    try:
        return _address(text)
    except ValueError as exc:
        raise InvalidIpAddress(value, str(exc)) from None


def normalise_ip(value: str | None) -> str | None:
    """Canonical text of an address, or None for None/blank; garbage raises.

    Called on every request (often twice: at the edge and in the service), and client
    addresses repeat, so canonical forms are cached; failures are not.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        return str(parse_ip(value))
    return _canonical_ip(value)


@functools.lru_cache(maxsize=4096)
def _canonical_ip(value: str) -> str:
    return str(parse_ip(value))


def parse_network(cidr: str) -> IpNetwork:
    """Parse ``addr/prefix`` (or a bare address = /32, /128) strictly.

    Host bits set is an error that suggests the intended network, because
    ``10.0.0.1/24`` usually means a typo, and silently widening or narrowing an
    allowlist is worse than asking.
    """
    if not isinstance(cidr, str):
        raise InvalidNetwork(cidr, f"{_shown(cidr)} is not a network (expected text like '10.0.0.0/8').")
    text = cidr.strip()
    if not text:
        raise InvalidNetwork(cidr, "The network is empty; expected text like '10.0.0.0/8'.")
    if len(text) > _MAX_INPUT:
        raise InvalidNetwork(cidr, f"{_shown(text)} is too long to be a network.")
    addr_text, slash, prefix_text = text.partition("/")
    if "%" in addr_text:
        raise InvalidNetwork(cidr, f"{_shown(text)} has an IPv6 zone id (%...), which is not allowed.")
    try:
        address = ipaddress.ip_address(addr_text)
    except ValueError:
        raise InvalidNetwork(
            cidr, f"{_shown(text)} is not an IP network; expected something like '10.0.0.0/8' or '2001:db8::/32'."
        ) from None
    if not slash:
        return ipaddress.ip_network(_unmap(address))
    max_prefix = address.max_prefixlen
    if not (prefix_text.isascii() and prefix_text.isdigit() and len(prefix_text) <= 3):
        raise InvalidNetwork(cidr, f"{_shown(text)} needs a prefix length from 0 to {max_prefix} after '/'.")
    prefix = int(prefix_text)
    if prefix > max_prefix:
        raise InvalidNetwork(
            cidr, f"{_shown(text)} has prefix /{prefix}; IPv{address.version} allows 0 to {max_prefix}."
        )
    network = ipaddress.ip_network((address, prefix), strict=False)
    if network.network_address != address:
        raise InvalidNetwork(
            cidr,
            f"{_shown(text)} has host bits set; did you mean {_unmap_network(network)}?",
        )
    return _unmap_network(network)


def parse_networks(values: Sequence[str]) -> tuple[IpNetwork, ...]:
    """Parse a list of CIDRs; the first bad entry raises, naming its index and value."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InvalidNetwork(values, f"Expected a list of networks, got {_shown(values)}.")
    parsed = []
    for index, value in enumerate(values):
        try:
            parsed.append(parse_network(value))
        except InvalidNetwork as exc:
            raise InvalidNetwork(value, f"Entry {index}: {exc.reason}", index=index) from None
    return tuple(parsed)


def find_matching_network(ip: str | IpAddress, networks: Sequence[IpNetwork]) -> IpNetwork | None:
    """The first network containing ``ip`` (a string is parsed first), or None."""
    address = parse_ip(ip) if isinstance(ip, str) else _unmap(ip)
    for network in networks:
        if network.version == address.version and address in network:
            return network
    return None


def _remote_addr(meta: Mapping[str, str]) -> str | None:
    try:
        return normalise_ip(meta.get("REMOTE_ADDR"))
    except InvalidIpAddress:
        return None


def forwarded_meta_keys(header: str) -> tuple[str, ...]:
    """The ``META`` keys to read for the header the trusted proxy writes.

    ``X-Forwarded-For`` keeps the long-standing behaviour: ``X-Forwarded-For``, then
    ``X-Real-IP``, each read as a chain. Any other name (``X-Real-IP``,
    ``CF-Connecting-IP``) is read alone, as a single address. Raises ValueError with a
    reason for a name that is not a header name, or is ``Forwarded`` (RFC 7239 is not read).
    """
    if not isinstance(header, str):
        raise ValueError(f"{_shown(header)} is not an HTTP header name (expected text such as 'X-Real-IP').")
    return _meta_keys(header)


@functools.lru_cache(maxsize=16)  # read on every request; the setting rarely changes
def _meta_keys(header: str) -> tuple[str, ...]:
    if _HEADER_NAME.fullmatch(header) is None:
        raise ValueError(
            f"{_shown(header)} is not an HTTP header name (letters, digits and "
            "!#$%&'*+-.^`|~; no '_', spaces or ':'), such as 'X-Real-IP'."
        )
    if header.lower() == CHAIN_HEADER.lower():
        return DEFAULT_FORWARDED_HEADERS
    if header.lower() == "forwarded":
        raise ValueError(
            "The RFC 7239 'Forwarded' header is not read; have the proxy write "
            "'X-Forwarded-For' or a single-address header such as 'X-Real-IP'."
        )
    return ("HTTP_" + header.upper().replace("-", "_"),)


def client_ip(
    meta: Mapping[str, str],
    *,
    proxy_count: int = 0,
    trusted_proxies: Sequence[str] = (),
    header: str = CHAIN_HEADER,
) -> str | None:
    """The client's address from a WSGI/ASGI ``META``-style mapping, or None.

    Forwarded headers can be written by anyone, so by default none is read and
    ``REMOTE_ADDR`` (the TCP peer) is the answer. ``header`` names the header
    your trusted proxy writes, read only under one of:

    - ``proxy_count=N``: N reverse proxies you run sit in front of the app.
    - ``trusted_proxies=[CIDR, ...]``: only when ``REMOTE_ADDR`` is in one of
      them. When both options are given, ``trusted_proxies`` wins.

    ``X-Forwarded-For`` (the default) is a chain: each proxy appends the address
    it received the request from and does not list itself, so it is read right to
    left with ``REMOTE_ADDR`` as the implicit rightmost hop. With ``proxy_count``
    the client is the N-th address from the right (``spoofed, client`` behind one
    proxy gives ``client``); with ``trusted_proxies`` trusted hops are skipped from
    the right and the first untrusted address is the client. ``X-Forwarded-For``
    is tried first, then ``X-Real-IP``, and the first that yields an address wins.

    Any other ``header`` (``X-Real-IP``, ``CF-Connecting-IP``) is one address the
    proxy overwrites; it alone is read, so a client's own ``X-Forwarded-For``
    passed through by that proxy counts for nothing. A value that is not exactly
    one address gives None.

    When the header is absent the answer is ``REMOTE_ADDR`` (a direct
    connection). When it is present but yields no address (shorter than the
    configured proxy chain, or mangled by the client, e.g. an unclosed quote),
    the answer is None rather than the proxy's own address, which an allowlist
    might trust. A garbage ``REMOTE_ADDR`` also gives None.
    """
    if isinstance(proxy_count, bool) or not isinstance(proxy_count, int) or proxy_count < 0:
        raise ValueError("proxy_count must be a non-negative integer")
    keys = forwarded_meta_keys(header)
    remote = _remote_addr(meta)
    if remote is None:
        return None
    pick: Callable[[str, str], IpAddress | None]
    if trusted_proxies:
        trusted = parse_networks(trusted_proxies)
        if find_matching_network(remote, trusted) is None:
            return remote  # the peer is not our proxy, so its headers are the client's words
        pick = partial(_behind_trusted, trusted=trusted)
    elif proxy_count:
        pick = partial(_behind_count, proxy_count=proxy_count)
    else:
        return remote
    if keys != DEFAULT_FORWARDED_HEADERS:
        pick = _single_address
    present = False
    for key in keys:
        raw = meta.get(key)
        if not isinstance(raw, str) or not raw.strip():
            continue
        present = True
        found = pick(raw, remote)
        if found is not None:
            return normalise_ip(str(found))
    return None if present else remote


def _single_address(raw: str, remote: str) -> IpAddress | None:
    # The proxy overwrites the header with the address it saw, so it holds exactly one;
    # a list means the proxy appended instead and the left entries are anyone's.
    chain = split_proxy_chain(raw, strict=True)
    return chain[0] if chain and len(chain) == 1 else None


def _behind_count(raw: str, remote: str, *, proxy_count: int) -> IpAddress | None:
    # python-ipware expects the chain "client, proxy1, ..., proxyN" with the
    # proxies included and answers chain[-(N + 1)]; appending REMOTE_ADDR (the
    # last proxy) gives it that chain. One header per engine keeps our header
    # order instead of ipware's "public beats private across headers" ranking.
    ipware = IpWare(precedence=("CHAIN",), proxy_count=proxy_count, algorithm="modern")
    found, _trusted = ipware.get_client_ip({"CHAIN": f"{raw}, {remote}"}, strict=False)
    return found


def _behind_trusted(raw: str, remote: str, *, trusted: tuple[IpNetwork, ...]) -> IpAddress | None:
    # ipware's parser handles ports, brackets, RFC 7239 "for=" and mapped IPv6.
    # Invalid tokens are dropped; they can only be client-written (left of the
    # first untrusted hop), so dropping them never moves the answer.
    chain = split_proxy_chain(raw, strict=False) or []
    for hop in reversed(chain):
        if find_matching_network(hop, trusted) is None:
            return hop
    return chain[0] if chain else None  # all hops are our proxies: the leftmost is the client
