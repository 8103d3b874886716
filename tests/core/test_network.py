import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from byo_sessions.core.network import (
    InvalidIpAddress,
    InvalidNetwork,
    client_ip,
    find_matching_network,
    forwarded_meta_keys,
    normalise_ip,
    parse_ip,
    parse_network,
    parse_networks,
)

# --- addresses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.2.3.4", IPv4Address("1.2.3.4")),
        ("  10.0.0.1\t", IPv4Address("10.0.0.1")),
        ("::1", IPv6Address("::1")),
        ("2001:DB8::1", IPv6Address("2001:db8::1")),
        ("::ffff:1.2.3.4", IPv4Address("1.2.3.4")),
        ("::FFFF:0102:0304", IPv4Address("1.2.3.4")),
        ("::1.2.3.4", IPv6Address("::102:304")),  # deprecated IPv4-compatible form stays IPv6
    ],
)
def test_parse_ip(raw: str, expected: IPv4Address | IPv6Address) -> None:
    assert parse_ip(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.4/32",
        "fe80::1%eth0",
        "[::1]",
        "1.2.3.4:80",
        "localhost",
        "١.٢.٣.٤",
        "1.2.3.4 5",
        "x" * 500,
    ],
)
def test_parse_ip_rejects(raw: str) -> None:
    with pytest.raises(InvalidIpAddress) as info:
        parse_ip(raw)
    assert info.value.value == raw
    assert info.value.reason


def test_parse_ip_answers_a_repeated_address_alike_and_refuses_garbage_every_time() -> None:
    """Parsed addresses are cached per process (policies check the request's on every
    request); a refusal is not, so garbage is refused with its reason each time."""
    assert parse_ip(" ::ffff:10.1.2.3 ") == parse_ip(" ::ffff:10.1.2.3 ") == IPv4Address("10.1.2.3")
    for _ in range(2):
        with pytest.raises(InvalidIpAddress, match="not an IPv4 or IPv6 address"):
            parse_ip("10.1.2.300")


@pytest.mark.parametrize("raw", [None, 16909060, b"1.2.3.4", IPv4Address("1.2.3.4")])
def test_parse_ip_rejects_non_strings(raw: object) -> None:
    with pytest.raises(InvalidIpAddress):
        parse_ip(raw)  # type: ignore[arg-type]


def test_zone_id_has_its_own_reason() -> None:
    with pytest.raises(InvalidIpAddress, match="zone id"):
        parse_ip("fe80::1%eth0")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", None), ("  ", None), (" 2001:0DB8:0:0::1 ", "2001:db8::1"), ("::ffff:10.0.0.1", "10.0.0.1")],
)
def test_normalise_ip(raw: str | None, expected: str | None) -> None:
    assert normalise_ip(raw) == expected


def test_normalise_ip_raises_on_garbage() -> None:
    with pytest.raises(InvalidIpAddress):
        normalise_ip("not-an-ip")


@given(st.ip_addresses())
def test_normalise_ip_is_canonical_and_idempotent(address: IPv4Address | IPv6Address) -> None:
    text = normalise_ip(str(address))
    assert text is not None
    assert normalise_ip(text) == text
    expected = address.ipv4_mapped if isinstance(address, IPv6Address) and address.ipv4_mapped else address
    assert ipaddress.ip_address(text) == expected


@given(st.one_of(st.text(max_size=120), st.integers(), st.none(), st.binary(max_size=10)))
def test_parse_ip_only_raises_invalid_ip_address(raw: object) -> None:
    try:
        parsed = parse_ip(raw)  # type: ignore[arg-type]
    except InvalidIpAddress as exc:
        assert exc.reason
    else:
        assert isinstance(raw, str)
        assert isinstance(parsed, (IPv4Address, IPv6Address))


# --- networks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.0.0.0/0", IPv4Network("0.0.0.0/0")),
        ("::/0", IPv6Network("::/0")),
        ("10.0.0.0/8", IPv4Network("10.0.0.0/8")),
        (" 192.168.1.0/24 ", IPv4Network("192.168.1.0/24")),
        ("10.0.0.1/32", IPv4Network("10.0.0.1/32")),
        ("10.0.0.1", IPv4Network("10.0.0.1/32")),
        ("2001:db8::1", IPv6Network("2001:db8::1/128")),
        ("2001:db8::1/128", IPv6Network("2001:db8::1/128")),
        ("2001:DB8::/32", IPv6Network("2001:db8::/32")),
        ("10.0.0.0/008", IPv4Network("10.0.0.0/8")),
        ("::ffff:10.0.0.0/104", IPv4Network("10.0.0.0/8")),
        ("::ffff:1.2.3.4/128", IPv4Network("1.2.3.4/32")),
        ("::ffff:1.2.3.4", IPv4Network("1.2.3.4/32")),
        ("::ffff:0:0/96", IPv4Network("0.0.0.0/0")),
        ("::/95", IPv6Network("::/95")),  # wider than the mapped range: stays IPv6
    ],
)
def test_parse_network(raw: str, expected: IPv4Network | IPv6Network) -> None:
    assert parse_network(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("10.0.0.1/24", "'10.0.0.1/24' has host bits set; did you mean 10.0.0.0/24?"),
        ("2001:db8::1/64", "did you mean 2001:db8::/64?"),
        ("::ffff:10.0.0.1/104", "did you mean 10.0.0.0/8?"),
        ("10.0.0.0/33", "allows 0 to 32"),
        ("2001:db8::/129", "allows 0 to 128"),
        ("10.0.0.0/", "prefix length"),
        ("10.0.0.0/-1", "prefix length"),
        ("10.0.0.0/255.0.0.0", "prefix length"),
        ("10.0.0.0/8/8", "prefix length"),
        ("10.0.0.0/٨", "prefix length"),
        ("/8", "not an IP network"),
        ("garbage", "not an IP network"),
        ("10.0.0/8", "not an IP network"),
        ("fe80::%eth0/64", "zone id"),
        ("", "empty"),
    ],
)
def test_parse_network_rejects_with_reason(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidNetwork) as info:
        parse_network(raw)
    assert fragment in info.value.reason
    assert info.value.value == raw


@given(st.one_of(st.text(max_size=120), st.integers(), st.none(), st.lists(st.text(), max_size=2)))
def test_parse_network_only_raises_invalid_network(raw: object) -> None:
    try:
        parsed = parse_network(raw)  # type: ignore[arg-type]
    except InvalidNetwork as exc:
        assert exc.reason
    else:
        assert isinstance(parsed, (IPv4Network, IPv6Network))


@given(st.one_of(st.ip_addresses(v=4).map(lambda a: (a, 32)), st.ip_addresses(v=6).map(lambda a: (a, 128))), st.data())
def test_parse_network_accepts_every_network_in_canonical_form(pair: tuple, data: st.DataObject) -> None:
    address, max_prefix = pair
    prefix = data.draw(st.integers(0, max_prefix))
    network = ipaddress.ip_network((address, prefix), strict=False)
    parsed = parse_network(str(network))
    assert parse_network(str(parsed)) == parsed  # canonical output parses back unchanged
    if network.version == 4 or not network.subnet_of(IPv6Network("::ffff:0:0/96")):
        assert parsed == network
    if address != network.network_address:
        with pytest.raises(InvalidNetwork, match="host bits"):
            parse_network(f"{address}/{prefix}")


def test_parse_networks_names_index_and_value() -> None:
    assert parse_networks(["10.0.0.0/8", "::1"]) == (IPv4Network("10.0.0.0/8"), IPv6Network("::1/128"))
    with pytest.raises(InvalidNetwork) as info:
        parse_networks(["10.0.0.0/8", "1.2.3.4/16"])
    assert info.value.index == 1
    assert info.value.value == "1.2.3.4/16"
    assert str(info.value).startswith("Entry 1: '1.2.3.4/16' has host bits set")


@pytest.mark.parametrize("raw", ["10.0.0.0/8", None, 5])
def test_parse_networks_rejects_non_lists(raw: object) -> None:
    with pytest.raises(InvalidNetwork, match="list of networks"):
        parse_networks(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ip", "networks", "expected"),
    [
        ("10.1.2.3", ["192.168.0.0/16", "10.0.0.0/8"], "10.0.0.0/8"),
        ("10.1.2.3", ["10.0.0.0/8", "10.1.0.0/16"], "10.0.0.0/8"),  # first match wins
        ("11.0.0.1", ["10.0.0.0/8"], None),
        ("8.8.8.8", ["0.0.0.0/0"], "0.0.0.0/0"),
        ("2001:db8::5", ["0.0.0.0/0"], None),  # IPv6 never matches an IPv4 network
        ("1.2.3.4", ["::/0"], None),  # and IPv4 never matches an IPv6 network
        ("::ffff:10.1.2.3", ["10.0.0.0/8"], "10.0.0.0/8"),  # mapped client, IPv4 rule
        ("10.1.2.3", ["::ffff:10.0.0.0/104"], "10.0.0.0/8"),  # IPv4 client, mapped rule
        ("10.0.0.7", ["10.0.0.7"], "10.0.0.7/32"),
        ("10.0.0.8", ["10.0.0.7/32"], None),
        ("2001:db8::1", ["2001:db8::/32"], "2001:db8::/32"),
        ("2001:db8::1", ["2001:db8::1/128"], "2001:db8::1/128"),
        ("2001:db9::1", ["2001:db8::/32"], None),
    ],
)
def test_find_matching_network(ip: str, networks: list[str], expected: str | None) -> None:
    found = find_matching_network(ip, parse_networks(networks))
    assert (str(found) if found else None) == expected


def test_find_matching_network_accepts_address_objects() -> None:
    nets = parse_networks(["10.0.0.0/8"])
    assert find_matching_network(IPv6Address("::ffff:10.0.0.1"), nets) == IPv4Network("10.0.0.0/8")


# --- client_ip -------------------------------------------------------------------------

PROXY = "10.0.0.5"
CLIENT = "203.0.113.7"
SPOOF = "198.51.100.66"


@pytest.mark.parametrize(
    "meta",
    [
        {"REMOTE_ADDR": CLIENT},
        {"REMOTE_ADDR": CLIENT, "HTTP_X_FORWARDED_FOR": SPOOF},
        {"REMOTE_ADDR": CLIENT, "HTTP_X_FORWARDED_FOR": f"{SPOOF}, 10.9.9.9"},
        {"REMOTE_ADDR": CLIENT, "HTTP_X_REAL_IP": SPOOF},
        {"REMOTE_ADDR": CLIENT, "HTTP_FORWARDED": f"for={SPOOF}", "HTTP_CLIENT_IP": SPOOF},
        {"REMOTE_ADDR": f" ::ffff:{CLIENT} ", "HTTP_X_FORWARDED_FOR": SPOOF},
    ],
)
def test_default_trusts_no_forwarded_header(meta: dict[str, str]) -> None:
    assert client_ip(meta) == CLIENT


@pytest.mark.parametrize("remote", [None, "", "garbage", "1.2.3.4:80"])
def test_missing_or_garbage_remote_addr_gives_none(remote: str | None) -> None:
    meta = {"HTTP_X_FORWARDED_FOR": SPOOF}
    if remote is not None:
        meta["REMOTE_ADDR"] = remote
    assert client_ip(meta) is None
    assert client_ip(meta, proxy_count=1) is None
    assert client_ip(meta, trusted_proxies=["0.0.0.0/0"]) is None


@pytest.mark.parametrize(
    ("xff", "proxy_count", "expected"),
    [
        (CLIENT, 1, CLIENT),  # one proxy appended the client
        (f"{SPOOF}, {CLIENT}", 1, CLIENT),  # the client's own header is ignored
        (f"{SPOOF}, 1.1.1.1, {CLIENT}", 1, CLIENT),
        (f"{SPOOF}, {CLIENT}, 10.0.0.2", 2, CLIENT),  # CDN -> LB -> app
        (f"{CLIENT}, 10.0.0.2", 2, CLIENT),
        (f"junk, {CLIENT}", 1, CLIENT),  # unparsable client-written hops do not shift the answer
        (f"{CLIENT}:51234", 1, CLIENT),  # port stripped by ipware's parser
        (f"::ffff:{CLIENT}", 1, CLIENT),
        ("2001:db8::7", 1, "2001:db8::7"),
        ("10.20.30.40", 1, "10.20.30.40"),  # private clients are kept, not skipped for a public hop
        (CLIENT, 2, None),  # fewer hops than proxies: not the proxy's address
        (f'"{SPOOF}, {CLIENT}', 1, None),  # unclosed quote swallows the chain: refuse to guess
    ],
)
def test_proxy_count_reads_from_the_right(xff: str, proxy_count: int, expected: str | None) -> None:
    meta = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": xff}
    assert client_ip(meta, proxy_count=proxy_count) == expected


def test_proxy_count_without_any_header_is_a_direct_connection() -> None:
    assert client_ip({"REMOTE_ADDR": CLIENT}, proxy_count=1) == CLIENT


def test_proxy_count_uses_headers_in_order() -> None:
    meta = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"{SPOOF}, {CLIENT}", "HTTP_X_REAL_IP": "192.0.2.9"}
    assert client_ip(meta, proxy_count=1) == CLIENT
    assert client_ip(meta, proxy_count=1, header="X-Real-IP") == "192.0.2.9"
    # A header that is absent is skipped; one that cannot answer falls through to the next.
    assert client_ip({"REMOTE_ADDR": PROXY, "HTTP_X_REAL_IP": CLIENT}, proxy_count=1) == CLIENT
    mangled = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": '"oops', "HTTP_X_REAL_IP": CLIENT}
    assert client_ip(mangled, proxy_count=1) == CLIENT


@pytest.mark.parametrize(
    ("remote", "xff", "trusted", "expected"),
    [
        (PROXY, f"{SPOOF}, {CLIENT}", ["10.0.0.0/8"], CLIENT),
        (PROXY, f"{SPOOF}, {CLIENT}, 10.0.0.9", ["10.0.0.0/8"], CLIENT),  # skips every trusted hop
        (PROXY, f"{SPOOF}, {CLIENT}, 10.0.0.9", ["10.0.0.9", "10.0.0.5"], CLIENT),
        (PROXY, f"{CLIENT}, 172.16.0.1", ["10.0.0.0/8"], "172.16.0.1"),  # untrusted hop is the client
        (CLIENT, SPOOF, ["10.0.0.0/8"], CLIENT),  # peer is not our proxy: header ignored
        (PROXY, "10.0.0.1, 10.0.0.2", ["10.0.0.0/8"], "10.0.0.1"),  # all internal
        (f"::ffff:{PROXY}", CLIENT, ["10.0.0.0/8"], CLIENT),
        (PROXY, CLIENT, ["::ffff:10.0.0.0/104"], CLIENT),
        ("2001:db8::1", CLIENT, ["2001:db8::/32"], CLIENT),
        (PROXY, CLIENT, ["2001:db8::/32"], PROXY),  # IPv6 rule does not trust an IPv4 peer
        (PROXY, f'"{SPOOF}, {CLIENT}', ["10.0.0.0/8"], None),
    ],
)
def test_trusted_proxies(remote: str, xff: str, trusted: list[str], expected: str | None) -> None:
    meta = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": xff}
    assert client_ip(meta, trusted_proxies=trusted) == expected


def test_trusted_proxies_win_over_proxy_count() -> None:
    meta = {"REMOTE_ADDR": CLIENT, "HTTP_X_FORWARDED_FOR": SPOOF}
    assert client_ip(meta, proxy_count=1, trusted_proxies=["10.0.0.0/8"]) == CLIENT


# --- a proxy that writes one address (PROXY_IP_HEADER) ----------------------------------


@pytest.mark.parametrize("trust", [{"proxy_count": 1}, {"trusted_proxies": ["10.0.0.0/8"]}])
def test_a_single_address_header_is_the_client(trust: dict[str, object]) -> None:
    meta = {"REMOTE_ADDR": PROXY, "HTTP_X_REAL_IP": CLIENT}
    assert client_ip(meta, header="X-Real-IP", **trust) == CLIENT  # type: ignore[arg-type]
    cloudflare = {"REMOTE_ADDR": PROXY, "HTTP_CF_CONNECTING_IP": f" ::ffff:{CLIENT} "}
    assert client_ip(cloudflare, header="CF-Connecting-IP", **trust) == CLIENT  # type: ignore[arg-type]
    bracketed = {"REMOTE_ADDR": PROXY, "HTTP_X_REAL_IP": "[2001:db8::7]:443"}
    assert client_ip(bracketed, header="x-real-ip", **trust) == "2001:db8::7"  # type: ignore[arg-type]


@pytest.mark.parametrize("trust", [{"proxy_count": 1}, {"trusted_proxies": ["10.0.0.0/8"]}])
def test_a_passed_through_x_forwarded_for_is_ignored_when_the_proxy_writes_x_real_ip(trust: dict[str, object]) -> None:
    """nginx with only ``proxy_set_header X-Real-IP $remote_addr`` forwards the client's own
    X-Forwarded-For untouched: read as a chain it would name whoever the client says."""
    meta = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": SPOOF, "HTTP_X_REAL_IP": CLIENT}
    assert client_ip(meta, **trust) == SPOOF  # type: ignore[arg-type]  # the hole the setting closes
    assert client_ip(meta, header="X-Real-IP", **trust) == CLIENT  # type: ignore[arg-type]
    # No X-Real-IP (a request that bypassed the header rule): the spoofed chain is still not read.
    only_spoof = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"{SPOOF}, {CLIENT}"}
    assert client_ip(only_spoof, header="X-Real-IP", **trust) == PROXY  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [f"{SPOOF}, {CLIENT}", f"{CLIENT},", "junk", f"{CLIENT} junk", "for=", '""'])
def test_a_single_address_header_holding_anything_else_gives_none(value: str) -> None:
    """A list means something appended to the header instead of overwriting it, so the
    left entries are anyone's: no answer rather than a guess."""
    meta = {"REMOTE_ADDR": PROXY, "HTTP_X_REAL_IP": value}
    assert client_ip(meta, proxy_count=1, header="X-Real-IP") is None
    assert client_ip(meta, trusted_proxies=["10.0.0.0/8"], header="X-Real-IP") is None


@pytest.mark.parametrize(
    "meta",
    [
        {"REMOTE_ADDR": CLIENT, "HTTP_X_REAL_IP": SPOOF},  # the client talks to the app directly
        {"REMOTE_ADDR": CLIENT, "HTTP_X_REAL_IP": SPOOF, "HTTP_X_FORWARDED_FOR": SPOOF},
        {"REMOTE_ADDR": CLIENT, "HTTP_CF_CONNECTING_IP": SPOOF},
    ],
)
@pytest.mark.parametrize("header", ["X-Real-IP", "CF-Connecting-IP"])
def test_a_single_address_header_from_an_untrusted_peer_is_ignored(meta: dict[str, str], header: str) -> None:
    assert client_ip(meta, trusted_proxies=["10.0.0.0/8"], header=header) == CLIENT
    assert client_ip(meta, header=header) == CLIENT  # neither PROXY_COUNT nor TRUSTED_PROXIES: no header


@pytest.mark.parametrize(
    ("header", "keys"),
    [
        ("X-Forwarded-For", ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP")),  # the default: as before
        ("x-forwarded-for", ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP")),
        ("X-Real-IP", ("HTTP_X_REAL_IP",)),
        ("CF-Connecting-IP", ("HTTP_CF_CONNECTING_IP",)),
        ("True-Client-IP", ("HTTP_TRUE_CLIENT_IP",)),
    ],
)
def test_forwarded_meta_keys(header: str, keys: tuple[str, ...]) -> None:
    assert forwarded_meta_keys(header) == keys


@pytest.mark.parametrize(
    "header",
    ["HTTP_X_REAL_IP", "X_Real_IP", "X-Real-IP:", "X Real IP", "", "X-Real-IP\r\n", "Forwarded", None, ["X-Real-IP"]],
)
def test_forwarded_meta_keys_refuses_what_is_not_a_header_name(header: object) -> None:
    with pytest.raises(ValueError):
        forwarded_meta_keys(header)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client_ip({"REMOTE_ADDR": CLIENT}, header=header)  # type: ignore[arg-type]


def test_misconfiguration_fails_loudly() -> None:
    with pytest.raises(ValueError):
        client_ip({"REMOTE_ADDR": CLIENT}, proxy_count=-1)
    with pytest.raises(ValueError):
        client_ip({"REMOTE_ADDR": CLIENT}, proxy_count=True)  # type: ignore[arg-type]
    with pytest.raises(InvalidNetwork):
        client_ip({"REMOTE_ADDR": CLIENT}, trusted_proxies=["10.0.0.1/8"])


header_text = st.text(alphabet=st.sampled_from(list('0123456789abcdef.:, []"=;for-x')), max_size=60)


@given(header_text, st.integers(0, 3), st.booleans())
def test_client_ip_on_arbitrary_headers_is_canonical_or_none(xff: str, proxy_count: int, use_trusted: bool) -> None:
    meta = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": xff}
    result = client_ip(meta, proxy_count=proxy_count, trusted_proxies=["10.0.0.0/8"] if use_trusted else ())
    if proxy_count == 0 and not use_trusted:
        assert result == PROXY
    if result is not None:
        assert normalise_ip(result) == result


@given(header_text, st.booleans())
def test_client_written_prefix_never_chooses_the_answer(forged: str, use_trusted: bool) -> None:
    # The client controls everything left of what our proxy appended.
    meta = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"{forged}, {CLIENT}"}
    if use_trusted:
        result = client_ip(meta, trusted_proxies=["10.0.0.0/8"])
    else:
        result = client_ip(meta, proxy_count=1)
    assert result in (CLIENT, None)
    if '"' not in forged:
        assert result == CLIENT
