import json
import string
from ipaddress import IPv4Network, IPv6Network
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byo_sessions.core.policy import (
    POLICY_KEYS,
    CountryChangeAction,
    IpChangeAction,
    LimitAction,
    Policy,
    PolicyRule,
    PolicySet,
    PolicyValueError,
    UaChangeAction,
    label_error,
    parse_policy_document,
    policy_document,
    priority_error,
    selector_error,
    validate_overrides,
)

DAY = 86_400
LIFETIME = "absolute_lifetime_secs"
INACTIVITY = "inactivity_timeout_secs"
MAX = "max_concurrent_sessions_per_user"
PER_TAG = "max_concurrent_sessions_per_user_per_tag"


def errors_of(call: Any, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(PolicyValueError) as info:
        call(*args, **kwargs)
    assert str(info.value)  # the joined message is never empty
    return info.value.errors


# --- keys and enums ---------------------------------------------------------------------


def test_policy_keys_follow_the_byo_names() -> None:
    assert set(POLICY_KEYS) == {
        "absolute_lifetime_secs",
        "inactivity_timeout_secs",
        "ip_allowlist",
        "ip_blocklist",
        "disallow_ip_address_changes",
        "on_ip_address_change",
        "on_user_agent_change",
        "on_country_change",
        "max_concurrent_sessions_per_user",
        "max_concurrent_sessions_per_user_per_tag",
        "on_session_limit_exceeded",
        "rotation_interval_secs",
        "device_verification_required",
        "allow_session_extension",
        "max_extended_lifetime_secs",
    }


def test_enum_values() -> None:
    assert [e.value for e in IpChangeAction] == ["allow", "challenge", "invalidate"]
    assert [e.value for e in UaChangeAction] == ["allow", "invalidate"]
    assert [e.value for e in CountryChangeAction] == ["allow", "challenge", "invalidate"]
    assert [e.value for e in LimitAction] == ["drop_oldest", "drop_least_recently_active", "reject_new"]


# --- validate_overrides -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, {}),
        ({LIFETIME: 3600, INACTIVITY: None}, {LIFETIME: 3600}),  # None = not set
        ({LIFETIME: 400 * DAY, "rotation_interval_secs": 1}, {LIFETIME: 400 * DAY, "rotation_interval_secs": 1}),
        ({MAX: 1, PER_TAG: 1000}, {MAX: 1, PER_TAG: 1000}),
        (
            {"ip_allowlist": ["10.0.0.0/8", "::1"]},
            {"ip_allowlist": (IPv4Network("10.0.0.0/8"), IPv6Network("::1/128"))},
        ),
        ({"ip_blocklist": []}, {"ip_blocklist": ()}),
        ({"ip_allowlist": ["::ffff:10.0.0.0/104"]}, {"ip_allowlist": (IPv4Network("10.0.0.0/8"),)}),
        (
            {"disallow_ip_address_changes": False, "device_verification_required": True},
            {"disallow_ip_address_changes": False, "device_verification_required": True},
        ),
        ({"on_ip_address_change": "challenge"}, {"on_ip_address_change": IpChangeAction.CHALLENGE}),
        ({"on_user_agent_change": UaChangeAction.INVALIDATE}, {"on_user_agent_change": UaChangeAction.INVALIDATE}),
        ({"on_session_limit_exceeded": "reject_new"}, {"on_session_limit_exceeded": LimitAction.REJECT_NEW}),
    ],
)
def test_validate_overrides_cleans(data: dict, expected: dict) -> None:
    cleaned = validate_overrides(data, path="defaults")
    assert cleaned == expected
    assert validate_overrides(cleaned, path="defaults") == cleaned  # idempotent


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        (
            {LIFETIME: 0},
            "tags[2].absolute_lifetime_secs",
            "whole number of seconds from 1 to 34560000 (400 days); got 0",
        ),
        ({LIFETIME: 400 * DAY + 1}, "tags[2].absolute_lifetime_secs", "got 34560001"),
        ({LIFETIME: 3600.0}, "tags[2].absolute_lifetime_secs", "got 3600.0"),
        ({LIFETIME: "3600"}, "tags[2].absolute_lifetime_secs", "got '3600'"),
        ({LIFETIME: True}, "tags[2].absolute_lifetime_secs", "got true"),
        ({"rotation_interval_secs": -5}, "tags[2].rotation_interval_secs", "got -5"),
        ({MAX: 1001}, "tags[2].max_concurrent_sessions_per_user", "from 1 to 1000; got 1001"),
        ({PER_TAG: 0}, f"tags[2].{PER_TAG}", "from 1 to 1000; got 0"),
        ({"disallow_ip_address_changes": 1}, "tags[2].disallow_ip_address_changes", "must be true or false; got 1"),
        ({"device_verification_required": "yes"}, "tags[2].device_verification_required", "got 'yes'"),
        (
            {"on_ip_address_change": "block"},
            "tags[2].on_ip_address_change",
            "one of allow, challenge, invalidate; got 'block'",
        ),
        ({"on_user_agent_change": "challenge"}, "tags[2].on_user_agent_change", "one of allow, invalidate"),
        (
            {"on_session_limit_exceeded": "drop_newest"},
            "tags[2].on_session_limit_exceeded",
            "drop_oldest, drop_least_recently_active, reject_new",
        ),
        (
            {"ip_allowlist": ["10.0.0.1/24"]},
            "tags[2].ip_allowlist[0]",
            "'10.0.0.1/24' has host bits set; did you mean 10.0.0.0/24?",
        ),
        ({"ip_blocklist": ["1.1.1.1", "nope"]}, "tags[2].ip_blocklist[1]", "'nope' is not an IP network"),
        ({"ip_allowlist": "10.0.0.0/8"}, "tags[2].ip_allowlist", "must be a list of IP networks"),
        ({"ip_allowlist": ["10.0.0.0/8"] * 1001}, "tags[2].ip_allowlist", "at most 1000 networks; got 1001"),
        ({"absolute_lifetime": 60}, "tags[2].absolute_lifetime", "Did you mean 'absolute_lifetime_secs'?"),
        ({"colour": "red"}, "tags[2].colour", "not a policy setting. Known settings: absolute_lifetime_secs"),
        ({7: 1}, "tags[2].7", "not a policy setting"),
    ],
)
def test_validate_overrides_reports_readable_errors(data: dict, path: str, message: str) -> None:
    errors = errors_of(validate_overrides, data, path="tags[2]")
    assert len(errors) == 1
    assert errors[0][0] == path
    assert message in errors[0][1]


def test_validate_overrides_collects_every_error() -> None:
    errors = errors_of(validate_overrides, {LIFETIME: 0, "ip_allowlist": ["x", "10.0.0.0/8", "y"], "nope": 1}, path="")
    assert [path for path, _ in errors] == ["nope", LIFETIME, "ip_allowlist[0]", "ip_allowlist[2]"]


@pytest.mark.parametrize("data", [None, [], "absolute_lifetime_secs=5", 3])
def test_validate_overrides_needs_a_mapping(data: object) -> None:
    assert errors_of(validate_overrides, data, path="defaults")[0][0] == "defaults"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10**9)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["allow", "challenge", "invalidate", "drop_oldest", "reject_new", "10.0.0.0/8", "::1", "1.2.3.4/24"]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
any_overrides = st.dictionaries(st.sampled_from(POLICY_KEYS) | st.text(max_size=12), json_values, max_size=6)


@given(any_overrides)
def test_validate_overrides_only_raises_policy_value_error(data: dict) -> None:
    try:
        cleaned = validate_overrides(data, path="x")
    except PolicyValueError as exc:
        assert exc.errors
        assert all(path.startswith("x.") and message for path, message in exc.errors)
    else:
        assert set(cleaned) <= set(POLICY_KEYS)
        assert set(cleaned) == {k for k, v in data.items() if v is not None}
        assert validate_overrides(cleaned, path="x") == cleaned


# --- valid generated values (used by property tests) ------------------------------------------

TYPES = ["org", "role", "team", "login_type"]
secs_long = st.integers(DAY, 400 * DAY)  # lifetimes are at least a day ...
secs_short = st.integers(1, DAY)  # ... and inactivity at most a day, so any mix is consistent
valid_override_values: dict[str, st.SearchStrategy] = {
    LIFETIME: secs_long,
    INACTIVITY: secs_short,
    "rotation_interval_secs": st.integers(1, 400 * DAY),
    MAX: st.integers(1, 1000),
    PER_TAG: st.integers(1, 1000),
    "disallow_ip_address_changes": st.booleans(),
    "device_verification_required": st.booleans(),
    "allow_session_extension": st.booleans(),
    "max_extended_lifetime_secs": st.just(400 * DAY),  # never below a lifetime set beside it
    "on_ip_address_change": st.sampled_from([e.value for e in IpChangeAction]),
    "on_user_agent_change": st.sampled_from([e.value for e in UaChangeAction]),
    "on_country_change": st.sampled_from([e.value for e in CountryChangeAction]),
    "on_session_limit_exceeded": st.sampled_from([e.value for e in LimitAction]),
    "ip_allowlist": st.lists(
        st.ip_addresses(v=4).map(lambda a: f"{a}/32") | st.just("10.0.0.0/8") | st.just("2001:db8::/32"), max_size=3
    ),
    "ip_blocklist": st.lists(st.ip_addresses(v=6).map(str), max_size=2),
}


@st.composite
def overrides(draw: st.DrawFn, *, allow_per_tag: bool = True) -> dict[str, Any]:
    keys = [k for k in POLICY_KEYS if allow_per_tag or k != PER_TAG]
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=5))
    return {key: draw(valid_override_values[key]) for key in chosen}


selectors = st.builds(
    lambda t, v: f"{t}:{v}", st.sampled_from(TYPES), st.sampled_from(["*", "acme", "globex", "root", "sso", "a:b"])
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(selectors, unique=True, max_size=6))
    tags = []
    for selector in chosen:
        entry = {"tag": selector, "priority": draw(st.integers(-5, 5))}
        if draw(st.booleans()):
            entry["label"] = draw(st.text(alphabet=string.ascii_letters + " -", min_size=1, max_size=20))
        entry.update(draw(overrides()))
        tags.append(entry)
    return {
        "defaults": draw(overrides(allow_per_tag=False)),
        "tag_priority": draw(st.lists(st.sampled_from(TYPES), unique=True)),
        "on_create_only_tags": draw(st.lists(st.sampled_from([*TYPES, "*"]), unique=True, max_size=2)),
        "tags": tags,
    }


@settings(max_examples=150)
@given(documents())
def test_document_round_trip(doc: dict[str, Any]) -> None:
    policy_set = parse_policy_document(doc)
    exported = policy_document(policy_set)
    assert parse_policy_document(exported) == policy_set
    assert parse_policy_document(json.loads(json.dumps(exported))) == policy_set
    assert policy_document(parse_policy_document(exported)) == exported


@settings(max_examples=100)
@given(
    documents(),
    st.lists(
        st.sampled_from(["org:acme", "org:globex", "role:root", "team:x", "login_type:sso", "org:a:b"]), max_size=4
    ),
)
def test_resolve_matches_a_naive_reading_of_the_merge_rule(doc: dict[str, Any], tags: list[str]) -> None:
    policy_set = parse_policy_document(doc)
    policy = policy_set.resolve(tags)
    priority = doc["tag_priority"]

    def rank(entry: dict[str, Any]) -> tuple:
        type_, _, value = entry["tag"].partition(":")
        return (
            priority.index(type_) if type_ in priority else len(priority),
            entry["priority"],
            value == "*",
            entry["tag"],
        )

    def matches(entry: dict[str, Any], tag: str) -> bool:
        type_, _, value = entry["tag"].partition(":")
        return tag == entry["tag"] or (value == "*" and tag.split(":", 1)[0] == type_)

    matching = sorted((e for e in doc["tags"] if any(matches(e, t) for t in tags)), key=rank)
    for key in POLICY_KEYS:
        if key == PER_TAG:
            continue
        setters = [e for e in matching if key in e]
        raw = setters[0][key] if setters else doc["defaults"].get(key)
        # validate_overrides only converts the raw JSON value (text -> enum, CIDR -> network)
        expected = getattr(Policy(), key) if raw is None else validate_overrides({key: raw})[key]
        assert getattr(policy, key) == expected
        assert policy.source(key) == (setters[0].get("label", setters[0]["tag"]) if setters else "defaults")
    for tag in set(tags):
        setters = sorted((e for e in doc["tags"] if PER_TAG in e and matches(e, tag)), key=rank)
        assert policy.max_concurrent_sessions_per_user_per_tag.get(tag) == (setters[0][PER_TAG] if setters else None)


# --- resolution: table-driven ---------------------------------------------------------------------

BASE = {
    "defaults": {LIFETIME: 14 * DAY, MAX: 8, "on_ip_address_change": "allow"},
    "tag_priority": ["org", "role"],
    "tags": [
        {"tag": "org:acme", LIFETIME: 3600},
        {"tag": "org:*", LIFETIME: 7200, "on_ip_address_change": "challenge", "rotation_interval_secs": 900},
        {"tag": "role:root", LIFETIME: 600, MAX: 1, "on_user_agent_change": "invalidate"},
        {"tag": "role:*", "priority": -1, "device_verification_required": True},
        {"tag": "team:red", "priority": 5, LIFETIME: 60, MAX: 3},
        {"tag": "team:blue", "priority": 1, MAX: 2, "ip_allowlist": ["10.0.0.0/8"]},
        {"tag": "login_type:sso", "priority": 1, MAX: 4},
    ],
}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        # no tags / unmatched tags: all defaults, built-ins for the rest
        ([], {LIFETIME: (14 * DAY, "defaults"), MAX: (8, "defaults"), "rotation_interval_secs": (None, "defaults")}),
        (["dept:x"], {LIFETIME: (14 * DAY, "defaults"), "on_ip_address_change": (IpChangeAction.ALLOW, "defaults")}),
        # exact beats wildcard of the same type
        (["org:acme"], {LIFETIME: (3600, "org:acme"), "on_ip_address_change": (IpChangeAction.CHALLENGE, "org:*")}),
        (["org:globex"], {LIFETIME: (7200, "org:*"), "rotation_interval_secs": (900, "org:*"), MAX: (8, "defaults")}),
        # tag_priority: org outranks role even though role:root is stricter
        (
            ["role:root", "org:acme"],
            {
                LIFETIME: (3600, "org:acme"),
                MAX: (1, "role:root"),
                "on_user_agent_change": (UaChangeAction.INVALIDATE, "role:root"),
            },
        ),
        # within one type, priority beats exactness: role:* (-1) over role:root (0) only for keys it sets
        (["role:root"], {"device_verification_required": (True, "role:*"), LIFETIME: (600, "role:root")}),
        # listed types outrank unlisted ones, whatever their priority
        (["team:red", "role:root"], {LIFETIME: (600, "role:root"), MAX: (1, "role:root")}),
        (["team:red", "org:globex"], {LIFETIME: (7200, "org:*"), MAX: (3, "team:red")}),
        # among unlisted types, lower priority wins
        (["team:red", "team:blue"], {MAX: (2, "team:blue"), LIFETIME: (60, "team:red")}),
        # same priority and both unlisted: the selector text decides (login_type < team)
        (
            ["team:blue", "login_type:sso"],
            {MAX: (4, "login_type:sso"), "ip_allowlist": ((IPv4Network("10.0.0.0/8"),), "team:blue")},
        ),
        # tag order does not matter
        (["org:acme", "role:root"], {LIFETIME: (3600, "org:acme"), MAX: (1, "role:root")}),
    ],
)
def test_resolve_table(tags: list[str], expected: dict[str, tuple[Any, str]]) -> None:
    policy = parse_policy_document(BASE).resolve(tags)
    assert {key: (getattr(policy, key), policy.source(key)) for key in expected} == expected


@pytest.mark.parametrize(
    ("tag_priority", "tags", "lifetime"),
    [
        (["org", "role"], ["org:acme", "role:root"], (3600, "org:acme")),
        (["role", "org"], ["org:acme", "role:root"], (600, "role:root")),
        ([], ["org:acme", "role:root"], (3600, "org:acme")),  # no type listed: priority and exactness tie, text decides
        (["role"], ["org:acme", "role:root"], (600, "role:root")),
        (["team"], ["team:red", "org:acme"], (60, "team:red")),
    ],
)
def test_tag_priority_decides_between_types(
    tag_priority: list[str], tags: list[str], lifetime: tuple[int, str]
) -> None:
    doc = {**BASE, "tag_priority": tag_priority}
    policy = parse_policy_document(doc).resolve(tags)
    assert (policy.absolute_lifetime_secs, policy.source(LIFETIME)) == lifetime


def test_defaults_fill_what_rules_do_not_set_and_builtins_the_rest() -> None:
    policy = PolicySet(defaults={MAX: 5}).resolve(["org:acme"])
    assert policy == Policy(max_concurrent_sessions_per_user=5, sources=policy.sources)
    assert set(policy.sources) == set(POLICY_KEYS)
    assert set(policy.sources.values()) == {"defaults"}


def test_per_tag_limits_use_the_best_rule_for_each_tag() -> None:
    policy_set = PolicySet(
        rules=(
            PolicyRule("org:*", overrides={PER_TAG: 10}),
            PolicyRule("org:acme", overrides={PER_TAG: 2}),
            PolicyRule("role:root", priority=3, overrides={PER_TAG: 1}),
            PolicyRule("role:*", priority=1, overrides={PER_TAG: 4}),
            PolicyRule("team:x", overrides={MAX: 3}),
        ),
        tag_priority=("role",),
    )
    tags = ["org:acme", "org:globex", "role:root", "team:x", "dept:y"]
    assert policy_set.per_tag_limits(tags) == {"org:acme": 2, "org:globex": 10, "role:root": 4}
    policy = policy_set.resolve(tags)
    assert dict(policy.max_concurrent_sessions_per_user_per_tag) == {"org:acme": 2, "org:globex": 10, "role:root": 4}
    assert policy.sources[f"{PER_TAG}[org:globex]"] == "org:*"
    assert policy.sources[f"{PER_TAG}[role:root]"] == "role:*"
    assert policy_set.per_tag_limits(["team:x"]) == {}


def test_resolve_is_cached_per_set_of_tags() -> None:
    policy_set = parse_policy_document(BASE)
    first = policy_set.resolve(["org:acme", "role:root"])
    assert policy_set.resolve(("role:root", "org:acme", "org:acme")) is first
    assert policy_set.resolve(["org:acme"]) is not first


def test_labels_name_rules_in_sources() -> None:
    policy = PolicySet(rules=(PolicyRule("org:acme", overrides={MAX: 1}, label="Acme Corp (contract 7)"),)).resolve(
        ["org:acme"]
    )
    assert policy.source(MAX) == "Acme Corp (contract 7)"


# --- rules and sets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "tag", "expected"),
    [
        ("org:acme", "org:acme", True),
        ("org:acme", "org:acme2", False),
        ("org:acme", "org:Acme", False),
        ("org:*", "org:acme", True),
        ("org:*", "org:a:b", True),
        ("org:*", "organisation:acme", False),
        ("org:*", "role:org", False),
        ("org:*", "org", False),
        ("idp:urn:x", "idp:urn:x", True),
    ],
)
def test_rule_matches(selector: str, tag: str, expected: bool) -> None:
    assert PolicyRule(selector).matches(tag) is expected


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"selector": "org"}, "selector", "no ':'"),
        ({"selector": "*"}, "selector", "no ':'"),
        ({"selector": "Org:*"}, "selector", "not a valid wildcard"),
        ({"selector": "org:acme", "priority": 1.5}, "priority", "whole number"),
        ({"selector": "org:acme", "priority": 10**7}, "priority", "whole number"),
        ({"selector": "org:acme", "overrides": {MAX: 0}}, MAX, "from 1 to 1000"),
        ({"selector": "org:acme", "label": "x" * 301}, "label", "at most 300"),
    ],
)
def test_rule_validation(kwargs: dict, path: str, fragment: str) -> None:
    errors = errors_of(PolicyRule, **kwargs)
    assert errors[0][0] == path
    assert fragment in errors[0][1]


def test_rule_overrides_are_cleaned_and_frozen() -> None:
    rule = PolicyRule(
        "org:acme", overrides={"ip_allowlist": ["10.0.0.0/8"], "on_ip_address_change": "invalidate", INACTIVITY: None}
    )
    assert dict(rule.overrides) == {
        "ip_allowlist": (IPv4Network("10.0.0.0/8"),),
        "on_ip_address_change": IpChangeAction.INVALIDATE,
    }
    with pytest.raises(TypeError):
        rule.overrides["x"] = 1  # type: ignore[index]
    assert rule.label == "org:acme"


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"defaults": {PER_TAG: 3}}, f"defaults.{PER_TAG}", "only be set on a tag rule"),
        ({"defaults": {LIFETIME: -1}}, f"defaults.{LIFETIME}", "whole number"),
        ({"rules": (PolicyRule("org:a"), PolicyRule("org:a", priority=2))}, "rules[1].selector", "already has a rule"),
        ({"tag_priority": ("org", "Org")}, "tag_priority[1]", "not a tag type"),
        ({"tag_priority": ("org", "org")}, "tag_priority[1]", "listed twice"),
        ({"tag_priority": ("*",)}, "tag_priority[0]", "not a tag type"),
        ({"create_only_tag_types": ("org:acme",)}, "create_only_tag_types[0]", "not a tag type"),
        ({"rules": ("org:a",)}, "rules[0]", "must be a PolicyRule"),
    ],
)
def test_policy_set_validation(kwargs: dict, path: str, fragment: str) -> None:
    errors = errors_of(PolicySet, **kwargs)
    assert errors[0][0] == path
    assert fragment in errors[0][1]


# --- inactivity vs lifetime ------------------------------------------------------------------------------


def test_resolved_policy_may_hold_a_timeout_longer_than_the_lifetime() -> None:
    # The earlier expiry wins at validation; a longer timeout from another rule is harmless.
    policy = Policy(absolute_lifetime_secs=60, inactivity_timeout_secs=61)
    assert (policy.absolute_lifetime_secs, policy.inactivity_timeout_secs) == (60, 61)


@pytest.mark.parametrize(
    ("defaults", "rules", "bad_path"),
    [
        ({LIFETIME: 3600, INACTIVITY: 7200}, [], "defaults.inactivity_timeout_secs"),
        ({}, [("org:a", 0, {LIFETIME: 3600, INACTIVITY: 7200})], "tags[0].inactivity_timeout_secs"),
        ({LIFETIME: 3600, INACTIVITY: 3600}, [], None),
        # across sources it is fine: 12 h for org:acme under a 7-day default idle timeout
        ({LIFETIME: 14 * DAY, INACTIVITY: 7 * DAY}, [("org:acme", 0, {LIFETIME: 12 * 3600})], None),
        ({LIFETIME: 3600}, [("org:a", 0, {INACTIVITY: 7200})], None),
        ({}, [("org:a", 0, {LIFETIME: 3600}), ("role:b", 0, {INACTIVITY: 7200})], None),
    ],
)
def test_inactivity_longer_than_lifetime_in_one_entry_is_refused_on_import(
    defaults: dict, rules: list, bad_path: str | None
) -> None:
    doc = {"defaults": defaults, "tags": [{"tag": s, "priority": p, **o} for s, p, o in rules]}
    if bad_path is None:
        policy_set = parse_policy_document(doc)
        for combo in (["org:a"], ["role:b"], ["org:a", "role:b"], ["org:acme"], []):
            policy_set.resolve(combo)
    else:
        errors = errors_of(parse_policy_document, doc)
        assert [path for path, _ in errors] == [bad_path]
        assert "could never apply" in errors[0][1]


def test_a_policy_set_always_builds_and_resolves_whatever_the_timeouts() -> None:
    # What reached the database (or settings) must never make requests fail.
    policy_set = PolicySet(
        defaults={LIFETIME: 3600, INACTIVITY: 7200},
        rules=(PolicyRule("org:a", overrides={LIFETIME: 60, INACTIVITY: 120}),),
    )
    assert policy_set.resolve(["org:a"]).absolute_lifetime_secs == 60


# --- IP checks on a resolved policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("10.1.2.3", None),
        ("::ffff:10.1.2.3", None),
        ("10.66.0.1", "IP address 10.66.0.1 is in 10.66.0.0/16, blocked by policy org:acme."),
        ("8.8.8.8", "IP address 8.8.8.8 is not in the allowlist of policy defaults."),
        ("2001:db8::1", "IP address 2001:db8::1 is not in the allowlist of policy defaults."),
        (None, "No valid client IP address, but policy defaults requires one from its allowlist."),
        ("garbage", "No valid client IP address, but policy defaults requires one from its allowlist."),
    ],
)
def test_ip_refusal(ip: str | None, expected: str | None) -> None:
    policy_set = PolicySet(
        defaults={"ip_allowlist": ["10.0.0.0/8"]},
        rules=(PolicyRule("org:acme", overrides={"ip_blocklist": ["10.66.0.0/16"]}),),
    )
    refusal = policy_set.resolve(["org:acme"]).ip_refusal(ip)
    assert (refusal.message if refusal else None) == expected


def test_empty_allowlist_set_by_a_rule_lifts_the_default() -> None:
    policy_set = PolicySet(
        defaults={"ip_allowlist": ["10.0.0.0/8"]}, rules=(PolicyRule("org:open", overrides={"ip_allowlist": []}),)
    )
    assert policy_set.resolve(["org:open"]).ip_refusal("8.8.8.8") is None
    assert policy_set.resolve(["org:other"]).ip_refusal("8.8.8.8") is not None


# --- document parsing ------------------------------------------------------------------------------------------


def test_parse_document_collects_every_error_with_paths() -> None:
    doc = {
        "defaults": {LIFETIME: 0, PER_TAG: 2},
        "tag_priority": ["org", 5],
        "on_create_only_tags": "org",
        "tags": [
            {"tag": "org:acme", "ip_allowlist": ["10.0.0.1/24"]},
            {"absolute_lifetime_secs": 60},
            {"tag": "org:acme", "priority": "high"},
            "role:root",
            {"tag": "bad tag", "colour": 1},
        ],
        "version": 2,
    }
    errors = dict(errors_of(parse_policy_document, doc))
    assert errors.pop("tags[0].ip_allowlist[0]") == "'10.0.0.1/24' has host bits set; did you mean 10.0.0.0/24?"
    assert set(errors) == {
        "version",
        "defaults.absolute_lifetime_secs",
        f"defaults.{PER_TAG}",
        "tag_priority[1]",
        "on_create_only_tags",
        "tags[1].tag",
        "tags[2].priority",
        "tags[2].tag",
        "tags[3]",
        "tags[4].tag",
        "tags[4].colour",
    }
    assert "already has a rule" in errors["tags[2].tag"]
    assert "is required" in errors["tags[1].tag"]


@pytest.mark.parametrize("doc", [None, [], "{}", 3])
def test_parse_document_needs_an_object(doc: object) -> None:
    assert errors_of(parse_policy_document, doc)[0][0] == ""


@pytest.mark.parametrize(
    "doc", [{}, {"defaults": None, "tags": None, "tag_priority": None, "on_create_only_tags": None}]
)
def test_every_section_is_optional(doc: dict) -> None:
    assert parse_policy_document(doc) == PolicySet()


def test_parse_document_reports_inconsistency_with_document_paths() -> None:
    doc = {"defaults": {LIFETIME: 3600}, "tags": [{"tag": "org:a"}, {"tag": "org:b", INACTIVITY: 7200, LIFETIME: 60}]}
    assert [path for path, _ in errors_of(parse_policy_document, doc)] == ["tags[1].inactivity_timeout_secs"]


def test_parse_document_reports_inconsistency_together_with_every_other_error() -> None:
    # "reports every error with its key": a bad entry must not hide an inconsistent one (or shift its index).
    doc = {
        "defaults": {LIFETIME: 60, INACTIVITY: 120},
        "tags": [
            {"tag": "Bad Tag"},
            {"tag": "org:b", INACTIVITY: 7200, LIFETIME: 60},
            {"tag": "org:c", "priority": "high", INACTIVITY: 7200, LIFETIME: 60},
        ],
    }
    assert [path for path, _ in errors_of(parse_policy_document, doc)] == [
        "defaults.inactivity_timeout_secs",
        "tags[0].tag",
        "tags[1].inactivity_timeout_secs",
        "tags[2].priority",
        "tags[2].inactivity_timeout_secs",
    ]


@pytest.mark.parametrize(
    ("check", "value", "fragment"),
    [
        (priority_error, 5_000_000, "from -1000000 to 1000000"),
        (priority_error, True, "whole number"),
        (selector_error, "Org:*", "not a valid wildcard"),
        (label_error, "x" * 301, "at most 300"),
        (label_error, 7, "must be text"),
    ],
)
def test_the_shared_checks_agree_with_policy_rule(check: Any, value: object, fragment: str) -> None:
    # The admin form and model validators call these; PolicyRule must refuse the same values.
    problem = check(value)
    assert problem is not None and fragment in problem
    key = {priority_error: "priority", selector_error: "selector", label_error: "label"}[check]
    kwargs = {"selector": "org:acme", key: value}
    assert (key, problem) in errors_of(PolicyRule, **kwargs)
    assert check({"priority": 0, "selector": "org:*", "label": ""}[key]) is None


def test_labels_survive_export_and_parse() -> None:
    doc = {
        "tags": [
            {"tag": "org:acme", "priority": 0, "label": "Acme Corp", LIFETIME: 3600},
            {"tag": "org:*", "priority": 2, MAX: 4},
        ]
    }
    exported = policy_document(parse_policy_document(doc))
    assert exported["tags"] == doc["tags"]
    assert policy_document(parse_policy_document(exported)) == exported


def test_export_shape() -> None:
    policy_set = parse_policy_document(BASE | {"on_create_only_tags": ["org"]})
    exported = policy_document(policy_set)
    assert exported["defaults"] == BASE["defaults"]
    assert exported["tag_priority"] == ["org", "role"]
    assert exported["on_create_only_tags"] == ["org"]
    assert exported["tags"][0] == {"tag": "org:acme", "priority": 0, LIFETIME: 3600}
    assert exported["tags"][5] == {"tag": "team:blue", "priority": 1, MAX: 2, "ip_allowlist": ["10.0.0.0/8"]}
    json.dumps(exported)  # plain JSON types only


def test_the_module_docstring_example() -> None:
    policy_set = parse_policy_document(
        {
            "defaults": {LIFETIME: DAY, MAX: 8},
            "tag_priority": ["org", "role"],
            "tags": [
                {"tag": "org:acme", LIFETIME: 3600},
                {"tag": "org:*", LIFETIME: 7200, "on_ip_address_change": "challenge"},
                {"tag": "role:root", LIFETIME: 600, MAX: 1},
            ],
        }
    )
    both = policy_set.resolve(["org:acme", "role:root"])
    assert (both.absolute_lifetime_secs, both.on_ip_address_change, both.max_concurrent_sessions_per_user) == (
        3600,
        IpChangeAction.CHALLENGE,
        1,
    )
    globex = policy_set.resolve(["org:globex"])
    assert (globex.absolute_lifetime_secs, globex.max_concurrent_sessions_per_user) == (7200, 8)
    for tags in ([], ["team:x"]):
        plain = policy_set.resolve(tags)
        assert (plain.absolute_lifetime_secs, plain.max_concurrent_sessions_per_user) == (DAY, 8)
        assert plain.on_ip_address_change is IpChangeAction.ALLOW
