"""Session policies: validated override values, tag rules, and how they merge.

Everything here is pure: the integrator turns settings and ``TagPolicy`` rows
(or an imported JSON document) into a :class:`PolicySet`, and
:meth:`PolicySet.resolve` turns a session's tags into one :class:`Policy`.
Setting names follow the BYO ``session_config.jsonc`` schema where it has
one; ``ip_blocklist``, ``on_ip_address_change``, ``on_user_agent_change``, ``on_country_change``,
``rotation_interval_secs``, ``device_verification_required``,
``allow_session_extension`` and ``max_extended_lifetime_secs`` are ours.

Merge rule
----------
Per setting, among the rules that match any of the session's tags, the value
comes from the best-ranked rule that sets that setting; settings no matching
rule sets come from ``defaults`` (and, failing that, the built-in value: no
limit / no timeout / allow / ``drop_oldest``). A rule's rank, best first:

1. the position of its tag type in ``tag_priority`` (types not listed rank
   after all listed ones);
2. its ``priority`` (lower wins);
3. an exact tag (``org:acme``) before a wildcard (``org:*``);
4. the selector text, so the order never depends on insertion order.

Example, with ``tag_priority = ["org", "role"]``, defaults
``{absolute_lifetime_secs: 86400, max_concurrent_sessions_per_user: 8}`` and
rules ``org:acme {absolute_lifetime_secs: 3600}``,
``org:* {absolute_lifetime_secs: 7200, on_ip_address_change: challenge}``,
``role:root {absolute_lifetime_secs: 600, max_concurrent_sessions_per_user: 1}``:

- tags ``[org:acme, role:root]``: lifetime 3600 (``org`` outranks ``role``,
  exact outranks wildcard), IP change ``challenge`` (only ``org:*`` sets it),
  max sessions 1 (only ``role:root`` sets it);
- tags ``[org:globex]``: lifetime 7200 from ``org:*``, max sessions 8 from defaults;
- tags ``[]`` or ``[team:x]``: everything from defaults.

``max_concurrent_sessions_per_user_per_tag`` is a limit per tag, so it is
resolved for each tag separately (the best rule matching *that* tag) by
:meth:`PolicySet.per_tag_limits`; it cannot be set in ``defaults``.

``None`` always means "not set here" in overrides, so a rule cannot remove a
limit that ``defaults`` sets; it can only set another value. An empty
``ip_allowlist`` that is set does override: it means "no allowlist".

An inactivity timeout longer than the absolute lifetime *in the same entry*
could never fire, so it is rejected as a likely typo. Across entries it is
fine: the earlier of the two expiries ends the session.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from types import MappingProxyType
from typing import Any

from .network import (
    InvalidIpAddress,
    InvalidNetwork,
    IpAddress,
    IpNetwork,
    find_matching_network,
    parse_ip,
    parse_network,
)
from .tags import ALL_TYPES, TagFormatError, is_valid_tag_type, parse_tag
from .text import unstorable_reason

__all__ = [
    "DEFAULTS_LABEL",
    "CountryChangeAction",
    "IpChangeAction",
    "LimitAction",
    "POLICY_KEYS",
    "IpRefusal",
    "Policy",
    "PolicyRule",
    "PolicySet",
    "PolicyValueError",
    "UaChangeAction",
    "label_error",
    "parse_policy_document",
    "policy_document",
    "priority_error",
    "selector_error",
    "validate_overrides",
]

DAY = 86_400
MAX_DURATION_SECS = 400 * DAY
MAX_SESSIONS = 1000
MAX_NETWORKS = 1000
MAX_PRIORITY = 1_000_000
MAX_LABEL_LENGTH = 300  # = TagPolicy.description, where a rule's label is stored
DEFAULTS_LABEL = "defaults"
PER_TAG_KEY = "max_concurrent_sessions_per_user_per_tag"
_RESOLVE_CACHE_SIZE = 4096
Errors = list[tuple[str, str]]  # (key path, message) pairs
_SHOWN_CHARS = 60


class IpChangeAction(enum.StrEnum):
    ALLOW = "allow"
    CHALLENGE = "challenge"
    INVALIDATE = "invalidate"


class CountryChangeAction(enum.StrEnum):
    """What a session's move to another country does (its IP's country, ``services/geo.py``)."""

    ALLOW = "allow"
    CHALLENGE = "challenge"
    INVALIDATE = "invalidate"


class UaChangeAction(enum.StrEnum):
    ALLOW = "allow"
    INVALIDATE = "invalidate"


class LimitAction(enum.StrEnum):
    DROP_OLDEST = "drop_oldest"
    DROP_LEAST_RECENTLY_ACTIVE = "drop_least_recently_active"
    REJECT_NEW = "reject_new"


class PolicyValueError(ValueError):
    """One or more invalid policy values; ``errors`` holds (key path, message) pairs."""

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors: Errors = list(errors)
        super().__init__("; ".join(f"{path}: {msg}" if path else msg for path, msg in self.errors))


class _Invalid(Exception):
    """Internal: problems found while cleaning one value."""

    def __init__(self, errors: Errors) -> None:
        self.errors = errors


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _join(path: str, key: object) -> str:
    part = key if isinstance(key, str) else repr(key)
    return f"{path}.{part}" if path else str(part)


def _human_secs(secs: int) -> str:
    for unit, size in (("day", DAY), ("hour", 3600), ("minute", 60)):
        if secs >= size and secs % size == 0:
            n = secs // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{secs} second{'s' if secs != 1 else ''}"


# --- cleaners: (value, path) -> cleaned value, or raise _Invalid -------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds(value: object, path: str) -> int:
    if not _is_int(value) or not 1 <= value <= MAX_DURATION_SECS:  # type: ignore[operator]
        raise _Invalid(
            [
                (
                    path,
                    (
                        f"must be a whole number of seconds from 1 to {MAX_DURATION_SECS} "
                        f"({_human_secs(MAX_DURATION_SECS)}); got {_shown(value)}."
                    ),
                )
            ]
        )
    return int(value)  # type: ignore[call-overload]


def _count(value: object, path: str) -> int:
    if not _is_int(value) or not 1 <= value <= MAX_SESSIONS:  # type: ignore[operator]
        raise _Invalid([(path, f"must be a whole number from 1 to {MAX_SESSIONS}; got {_shown(value)}.")])
    return int(value)  # type: ignore[call-overload]


def _flag(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid([(path, f"must be true or false; got {_shown(value)}.")])
    return value


def _choice(kind: type[enum.StrEnum]) -> Callable[[object, str], enum.StrEnum]:
    def clean(value: object, path: str) -> enum.StrEnum:
        if isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                pass
        options = ", ".join(member.value for member in kind)
        raise _Invalid([(path, f"must be one of {options}; got {_shown(value)}.")])

    return clean


def _networks(value: object, path: str) -> tuple[IpNetwork, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        message = f'must be a list of IP networks such as ["10.0.0.0/8"]; got {_shown(value)}.'
        raise _Invalid([(path, message)])
    if len(value) > MAX_NETWORKS:
        raise _Invalid([(path, f"may hold at most {MAX_NETWORKS} networks; got {len(value)}.")])
    parsed: list[IpNetwork] = []
    errors: Errors = []
    for index, item in enumerate(value):
        if isinstance(item, (IPv4Network, IPv6Network)):
            item = str(item)  # already parsed: round-trip through the parser to re-check
        try:
            parsed.append(parse_network(item))  # type: ignore[arg-type]
        except InvalidNetwork as exc:
            errors.append((f"{path}[{index}]", exc.reason))
    if errors:
        raise _Invalid(errors)
    return tuple(parsed)


_CLEANERS: dict[str, Callable[[object, str], Any]] = {
    "absolute_lifetime_secs": _seconds,
    "inactivity_timeout_secs": _seconds,
    "ip_allowlist": _networks,
    "ip_blocklist": _networks,
    "disallow_ip_address_changes": _flag,
    "on_ip_address_change": _choice(IpChangeAction),
    "on_user_agent_change": _choice(UaChangeAction),
    "on_country_change": _choice(CountryChangeAction),
    "max_concurrent_sessions_per_user": _count,
    PER_TAG_KEY: _count,
    "on_session_limit_exceeded": _choice(LimitAction),
    "rotation_interval_secs": _seconds,
    "device_verification_required": _flag,
    "allow_session_extension": _flag,
    "max_extended_lifetime_secs": _seconds,
}
POLICY_KEYS: tuple[str, ...] = tuple(_CLEANERS)


def validate_overrides(data: Mapping[str, Any], *, path: str = "") -> dict[str, Any]:
    """Check and clean one set of overrides; raises :class:`PolicyValueError` listing every problem.

    ``None`` values mean "not set" and are left out of the result. Networks
    come back parsed, actions as enums. Already-clean input is accepted, so
    cleaning twice changes nothing. Cross-setting rules (inactivity vs
    lifetime) are checked by :class:`Policy` / :class:`PolicySet`, since the
    two values may come from different rules.
    """
    if not isinstance(data, Mapping):
        raise PolicyValueError([(path, f"must be an object of policy settings; got {_shown(data)}.")])
    errors: Errors = []
    cleaned: dict[str, Any] = {}
    for key in data:
        if key not in _CLEANERS:
            errors.append((_join(path, key), _unknown_key_message(key)))
    for key in POLICY_KEYS:
        value = data.get(key)
        if value is None:
            continue
        try:
            cleaned[key] = _CLEANERS[key](value, _join(path, key))
        except _Invalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise PolicyValueError(errors)
    return cleaned


def _unknown_key_message(key: object) -> str:
    message = f"{_shown(key)} is not a policy setting."
    if isinstance(key, str):
        close = difflib.get_close_matches(key, POLICY_KEYS, n=1)
        if close:
            return f"{message} Did you mean {close[0]!r}?"
    return f"{message} Known settings: {', '.join(POLICY_KEYS)}."


def _export_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [str(item) for item in value]
    if isinstance(value, enum.StrEnum):
        return value.value
    return value


def _export(overrides: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _export_value(overrides[key]) for key in POLICY_KEYS if key in overrides}


# --- rules -------------------------------------------------------------------


def selector_error(selector: object) -> str | None:
    """Why ``selector`` is neither an exact tag nor ``type:*``, or None (shared with the admin)."""
    if isinstance(selector, str) and selector.endswith(":*"):
        if is_valid_tag_type(selector[:-2]):
            return None
        return f"{_shown(selector)} is not a valid wildcard; it must look like 'org:*'."
    try:
        parse_tag(selector)
    except TagFormatError as exc:
        return f"{exc.reason} Use an exact tag such as 'org:acme' or a wildcard such as 'org:*'."
    return None


def priority_error(priority: object) -> str | None:
    """Why ``priority`` is refused, or None; the admin form and model validate with this too."""
    if _is_int(priority) and -MAX_PRIORITY <= priority <= MAX_PRIORITY:  # type: ignore[operator]
        return None
    return f"must be a whole number from {-MAX_PRIORITY} to {MAX_PRIORITY} (lower wins); got {_shown(priority)}."


def label_error(label: object) -> str | None:
    """Why ``label`` (stored as ``TagPolicy.description``) is refused, or None."""
    if not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH:
        return f"must be text of at most {MAX_LABEL_LENGTH} characters; got {_shown(label)}."
    unstorable = unstorable_reason(label)
    return None if unstorable is None else f"cannot be stored: {unstorable}."


@dataclass(frozen=True)
class PolicyRule:
    """Overrides for sessions carrying a tag (``org:acme``) or any tag of a type (``org:*``)."""

    selector: str
    priority: int = 0
    overrides: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""  # how messages name the rule; defaults to the selector
    tag_type: str = field(init=False, repr=False, compare=False)
    is_wildcard: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        errors: Errors = []
        for key, problem in (
            ("selector", selector_error(self.selector)),
            ("priority", priority_error(self.priority)),
            ("label", label_error(self.label)),
        ):
            if problem is not None:
                errors.append((key, problem))
        try:
            cleaned = validate_overrides(self.overrides)
        except PolicyValueError as exc:
            errors.extend(exc.errors)
        if errors:
            raise PolicyValueError(errors)
        object.__setattr__(self, "overrides", MappingProxyType(cleaned))
        object.__setattr__(self, "label", self.label or self.selector)
        object.__setattr__(self, "tag_type", self.selector.partition(":")[0])
        object.__setattr__(self, "is_wildcard", self.selector.endswith(":*"))

    def matches(self, tag: str) -> bool:
        """True when this rule applies to ``tag``."""
        if self.is_wildcard:
            type_, sep, _value = tag.partition(":")
            return bool(sep) and type_ == self.tag_type
        return tag == self.selector


# --- resolved policy ----------------------------------------------------------

_BUILT_IN: Mapping[str, Any] = MappingProxyType(
    {
        "absolute_lifetime_secs": None,
        "inactivity_timeout_secs": None,
        "ip_allowlist": (),
        "ip_blocklist": (),
        "disallow_ip_address_changes": False,
        "on_ip_address_change": IpChangeAction.ALLOW,
        "on_user_agent_change": UaChangeAction.ALLOW,
        "on_country_change": CountryChangeAction.ALLOW,
        "max_concurrent_sessions_per_user": None,
        "on_session_limit_exceeded": LimitAction.DROP_OLDEST,
        "rotation_interval_secs": None,
        "device_verification_required": False,
        "allow_session_extension": False,
        "max_extended_lifetime_secs": None,
    }
)


def _inactivity_problem(inactivity: int | None, lifetime: int | None) -> bool:
    return inactivity is not None and lifetime is not None and inactivity > lifetime


@dataclass(frozen=True)
class Policy:
    """The settings in force for one session; ``None`` means no limit / timeout / rotation.

    ``max_concurrent_sessions_per_user_per_tag`` maps each of the session's
    tags that has a limit to that limit. ``sources`` names, per setting, the
    rule label (or ``"defaults"``) it came from, for messages like
    "blocked by policy org:acme"; per-tag limits appear as
    ``max_concurrent_sessions_per_user_per_tag[<tag>]``.
    """

    absolute_lifetime_secs: int | None = None
    inactivity_timeout_secs: int | None = None
    ip_allowlist: tuple[IpNetwork, ...] = ()
    ip_blocklist: tuple[IpNetwork, ...] = ()
    disallow_ip_address_changes: bool = False
    on_ip_address_change: IpChangeAction = IpChangeAction.ALLOW
    on_user_agent_change: UaChangeAction = UaChangeAction.ALLOW
    on_country_change: CountryChangeAction = CountryChangeAction.ALLOW
    max_concurrent_sessions_per_user: int | None = None
    max_concurrent_sessions_per_user_per_tag: Mapping[str, int] = field(default_factory=dict)
    on_session_limit_exceeded: LimitAction = LimitAction.DROP_OLDEST
    rotation_interval_secs: int | None = None
    device_verification_required: bool = False
    allow_session_extension: bool = False
    max_extended_lifetime_secs: int | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        per_tag = MappingProxyType(dict(self.max_concurrent_sessions_per_user_per_tag))
        object.__setattr__(self, PER_TAG_KEY, per_tag)
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    @property
    def lifetime_cap_secs(self) -> int | None:
        """The longest a session may live from its creation: ``max_extended_lifetime_secs``
        when the policy allows extension (both set), else ``absolute_lifetime_secs``."""
        if self.allow_session_extension and self.max_extended_lifetime_secs is not None:
            return self.max_extended_lifetime_secs
        return self.absolute_lifetime_secs

    @property
    def extends(self) -> bool:
        """Whether validation may move this session's absolute end later (docs/policies.md)."""
        return self.allow_session_extension and self.max_extended_lifetime_secs is not None

    def source(self, key: str) -> str:
        """Label of the rule that set ``key``, or ``"defaults"``."""
        return self.sources.get(key, DEFAULTS_LABEL)

    def ip_refusal(self, ip: str | IpAddress | None) -> IpRefusal | None:
        """Why the blocklist or allowlist refuses ``ip`` (naming the policy), or None."""
        if not self.ip_allowlist and not self.ip_blocklist:
            return None  # the common case: no address parsing on the hot path
        address: IpAddress | None
        try:
            address = parse_ip(ip) if isinstance(ip, str) else ip
        except InvalidIpAddress:
            address = None
        if address is not None and (net := find_matching_network(address, self.ip_blocklist)):
            policy = self.source("ip_blocklist")
            return IpRefusal(
                "ip_in_blocklist",
                f"IP address {address} is in {net}, blocked by policy {policy}.",
                {"ip_address": str(address), "network": str(net), "policy": policy},
            )
        if self.ip_allowlist:
            policy = self.source("ip_allowlist")
            if address is None:
                return IpRefusal(
                    "ip_required",
                    f"No valid client IP address, but policy {policy} requires one from its allowlist.",
                    {"policy": policy},
                )
            if find_matching_network(address, self.ip_allowlist) is None:
                return IpRefusal(
                    "ip_not_in_allowlist",
                    f"IP address {address} is not in the allowlist of policy {policy}.",
                    {"ip_address": str(address), "policy": policy},
                )
        return None


@dataclass(frozen=True)
class IpRefusal:
    """A refused client IP: a machine ``reason``, a sentence, and details for the error."""

    reason: str
    message: str
    details: Mapping[str, str]


# --- policy set ------------------------------------------------------------------

RuleRank = tuple[int, int, bool, str]


def _tag_type_errors(values: object, path: str, *, allow_all: bool) -> tuple[Errors, tuple[str, ...]]:
    if values is None:
        return [], ()
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        return [(path, f'must be a list of tag types such as ["org", "role"]; got {_shown(values)}.')], ()
    errors: Errors = []
    seen: dict[str, None] = {}
    for index, value in enumerate(values):
        if allow_all and value == ALL_TYPES:
            pass
        elif not is_valid_tag_type(value):
            errors.append(
                (
                    f"{path}[{index}]",
                    (
                        f"{_shown(value)} is not a tag type: it must start with a lowercase letter and use "
                        "only a-z, 0-9, '_' and '-' (the part before ':' in 'org:acme')"
                        + (", or be '*' for all types." if allow_all else ".")
                    ),
                )
            )
            continue
        if value in seen:
            errors.append((f"{path}[{index}]", f"{_shown(value)} is listed twice."))
        seen[value] = None
    return errors, tuple(seen)


@dataclass(frozen=True)
class PolicySet:
    """Defaults plus tag rules; immutable, so resolved policies are cached on the instance.

    See the module docstring for the merge rule. Construction validates
    everything and raises :class:`PolicyValueError` (paths ``defaults...``,
    ``rules[i]...``, ``tag_priority[i]``, ``create_only_tag_types[i]``).
    """

    defaults: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[PolicyRule, ...] = ()
    tag_priority: tuple[str, ...] = ()
    create_only_tag_types: tuple[str, ...] = ()
    _cache: dict[frozenset[str], Policy] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        errors: Errors = []
        defaults: dict[str, Any] = {}
        try:
            defaults = validate_overrides(self.defaults, path="defaults")
        except PolicyValueError as exc:
            errors.extend(exc.errors)
        errors.extend(_defaults_per_tag_error(self.defaults, "defaults"))
        rules = tuple(self.rules)
        for index, rule in enumerate(rules):
            if not isinstance(rule, PolicyRule):
                errors.append((f"rules[{index}]", f"must be a PolicyRule; got {_shown(rule)}."))
        selectors = [r.selector if isinstance(r, PolicyRule) else None for r in rules]
        errors.extend(_duplicate_selector_errors(selectors, lambda i: f"rules[{i}].selector"))
        priority_errors, tag_priority = _tag_type_errors(self.tag_priority, "tag_priority", allow_all=False)
        create_errors, create_only = _tag_type_errors(
            self.create_only_tag_types, "create_only_tag_types", allow_all=True
        )
        errors += priority_errors + create_errors
        if errors:
            raise PolicyValueError(errors)
        object.__setattr__(self, "defaults", MappingProxyType(defaults))
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "tag_priority", tag_priority)
        object.__setattr__(self, "create_only_tag_types", create_only)

    def rank(self, rule: PolicyRule) -> RuleRank:
        """Sort key of ``rule``: smaller is stronger (see the module docstring)."""
        return _rank(rule, self.tag_priority)

    def matching_rules(self, tags: Iterable[str]) -> list[PolicyRule]:
        """Rules matching any of ``tags``, strongest first."""
        tags = list(tags)
        found = [rule for rule in self.rules if any(rule.matches(tag) for tag in tags)]
        return sorted(found, key=self.rank)

    def resolve(self, tags: Sequence[str]) -> Policy:
        """The policy for a session with these tags (cached per set of tags)."""
        key = frozenset(tags)
        policy = self._cache.get(key)
        if policy is None:
            if len(self._cache) >= _RESOLVE_CACHE_SIZE:
                self._cache.clear()
            policy = self._cache[key] = self._resolve(key)
        return policy

    def _resolve(self, tags: frozenset[str]) -> Policy:
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        ranked = self.matching_rules(sorted(tags))
        for key in _BUILT_IN:
            for rule in ranked:
                if key in rule.overrides:
                    values[key], sources[key] = rule.overrides[key], rule.label
                    break
            else:
                values[key] = self.defaults.get(key, _BUILT_IN[key])
                sources[key] = DEFAULTS_LABEL
        per_tag: dict[str, int] = {}
        for tag in sorted(tags):
            best = self._best_rule_for(tag, PER_TAG_KEY)
            if best is not None:
                per_tag[tag] = best.overrides[PER_TAG_KEY]
                sources[f"{PER_TAG_KEY}[{tag}]"] = best.label
        labels = dict.fromkeys(sources[f"{PER_TAG_KEY}[{tag}]"] for tag in per_tag)
        sources[PER_TAG_KEY] = ", ".join(labels) or DEFAULTS_LABEL
        return Policy(**values, max_concurrent_sessions_per_user_per_tag=per_tag, sources=sources)

    def _best_rule_for(self, tag: str, key: str) -> PolicyRule | None:
        candidates = [r for r in self.rules if key in r.overrides and r.matches(tag)]
        return min(candidates, key=self.rank, default=None)

    def per_tag_limits(self, tags: Iterable[str]) -> dict[str, int]:
        """For each tag with a per-tag session limit, the limit from the best rule matching that tag."""
        return dict(self.resolve(list(tags)).max_concurrent_sessions_per_user_per_tag)


def _rank(rule: PolicyRule, tag_priority: Sequence[str]) -> RuleRank:
    try:
        type_index = tag_priority.index(rule.tag_type)
    except ValueError:
        type_index = len(tag_priority)
    return (type_index, rule.priority, rule.is_wildcard, rule.selector)


def _defaults_per_tag_error(defaults: object, path: str) -> Errors:
    if isinstance(defaults, Mapping) and defaults.get(PER_TAG_KEY) is not None:
        message = "can only be set on a tag rule, since it limits the sessions that carry that tag."
        return [(_join(path, PER_TAG_KEY), message)]
    return []


def _duplicate_selector_errors(selectors: Sequence[object], path_of: Callable[[int], str]) -> Errors:
    seen: set[object] = set()
    errors = []
    for index, selector in enumerate(selectors):
        if isinstance(selector, str) and selector in seen:
            errors.append((path_of(index), f"{_shown(selector)} already has a rule; merge the two entries."))
        seen.add(selector)
    return errors


def rule_consistency_errors(
    values: Mapping[str, Any], path: str = "", *, min_inactivity_timeout_secs: int | None = None
) -> Errors:
    """An inactivity timeout longer than the lifetime set in the same entry (a likely typo),
    or shorter than ``min_inactivity_timeout_secs`` (the caller's floor, from the touch interval).

    Checked where people write policies (admin form, JSON import), never when a
    ``PolicySet`` is built: a live set must always resolve, and at validation the
    earlier of the two expiries simply wins (and a short timeout gets more frequent writes).
    """
    lifetime, inactivity, extended = "absolute_lifetime_secs", "inactivity_timeout_secs", "max_extended_lifetime_secs"
    if values.get(extended) is not None and values.get(lifetime) is not None and values[extended] < values[lifetime]:
        return [
            (
                _join(path, extended),
                (
                    f"The maximum extended lifetime ({_human_secs(values[extended])}) is shorter than the absolute "
                    f"lifetime ({_human_secs(values[lifetime])}) set in the same place: it would end sessions sooner, "
                    f"not let them be extended."
                ),
            )
        ]
    timeout = values.get(inactivity)
    if _inactivity_problem(timeout, values.get(lifetime)):
        return [
            (
                _join(path, inactivity),
                (
                    f"The inactivity timeout ({_human_secs(values[inactivity])}) is longer than the absolute lifetime "
                    f"({_human_secs(values[lifetime])}) set in the same place, so it could never apply."
                ),
            )
        ]
    if timeout is not None and min_inactivity_timeout_secs is not None and timeout < min_inactivity_timeout_secs:
        return [
            (
                _join(path, inactivity),
                (
                    f"The inactivity timeout ({_human_secs(timeout)}) must be at least "
                    f"{_human_secs(min_inactivity_timeout_secs)}: last activity is recorded at most every "
                    f"{_human_secs(min_inactivity_timeout_secs // 2)} (TOUCH_INTERVAL_SECS), so a shorter timeout "
                    f"would log out users who are still active. Lower TOUCH_INTERVAL_SECS to allow it."
                ),
            )
        ]
    return []


# --- JSON document -------------------------------------------------------------------

_DOCUMENT_KEYS = ("defaults", "tag_priority", "on_create_only_tags", "tags")
_RULE_KEYS = ("tag", "priority", "label")


def parse_policy_document(doc: Any, *, min_inactivity_timeout_secs: int | None = None) -> PolicySet:
    """Build a :class:`PolicySet` from the JSON import format, reporting every problem at once.

    Shape: ``{"defaults": {...}, "tag_priority": ["org", ...],
    "on_create_only_tags": ["org", ...] or ["*"], "tags": [{"tag": "org:acme",
    "priority": 0, "label": "...", <settings>...}]}``; every section is optional.
    ``min_inactivity_timeout_secs``: the floor :func:`rule_consistency_errors` applies.
    """
    floor = min_inactivity_timeout_secs
    if not isinstance(doc, Mapping):
        raise PolicyValueError(
            [
                (
                    "",
                    (
                        "The policy document must be a JSON object with the sections "
                        f"{', '.join(_DOCUMENT_KEYS)}; got {_shown(doc)}."
                    ),
                )
            ]
        )
    errors: Errors = []
    for key in doc:
        if key not in _DOCUMENT_KEYS:
            expected = ", ".join(_DOCUMENT_KEYS)
            message = f"{_shown(key)} is not a section of the policy document; expected {expected}."
            errors.append((_join("", key), message))

    defaults: dict[str, Any] = {}
    try:
        defaults = validate_overrides(doc.get("defaults") or {}, path="defaults")
    except PolicyValueError as exc:
        errors.extend(exc.errors)
    else:
        errors.extend(rule_consistency_errors(defaults, "defaults", min_inactivity_timeout_secs=floor))
    errors.extend(_defaults_per_tag_error(doc.get("defaults"), "defaults"))
    priority_errors, tag_priority = _tag_type_errors(doc.get("tag_priority"), "tag_priority", allow_all=False)
    create_errors, create_only = _tag_type_errors(doc.get("on_create_only_tags"), "on_create_only_tags", allow_all=True)
    errors += priority_errors + create_errors

    entries = doc.get("tags")
    if entries is None:
        entries = []
    rules: list[PolicyRule] = []
    if not isinstance(entries, (list, tuple)):
        message = f'must be a list of tag rules such as [{{"tag": "org:acme", ...}}]; got {_shown(entries)}.'
        errors.append(("tags", message))
        entries = []
    for index, entry in enumerate(entries):
        rule, rule_errors = _parse_rule(entry, f"tags[{index}]", floor)
        errors.extend(rule_errors)
        if rule is not None:
            rules.append(rule)
    selectors = [e.get("tag") if isinstance(e, Mapping) else None for e in entries]
    errors.extend(_duplicate_selector_errors(selectors, lambda i: f"tags[{i}].tag"))
    if errors:
        raise PolicyValueError(errors)
    return PolicySet(
        defaults=defaults, rules=tuple(rules), tag_priority=tag_priority, create_only_tag_types=create_only
    )


def _parse_rule(entry: object, path: str, floor: int | None = None) -> tuple[PolicyRule | None, Errors]:
    if not isinstance(entry, Mapping):
        example = '{"tag": "org:acme", "absolute_lifetime_secs": 3600}'
        return None, [(path, f"must be an object such as {example}; got {_shown(entry)}.")]
    errors: Errors = []
    selector = entry.get("tag")
    if selector is None:
        message = "is required: the tag this rule applies to, e.g. 'org:acme' or 'org:*'."
        errors.append((f"{path}.tag", message))
    elif (problem := selector_error(selector)) is not None:
        errors.append((f"{path}.tag", problem))
    priority = entry.get("priority", 0)
    if (problem := priority_error(priority)) is not None:
        errors.append((f"{path}.priority", problem))
    label = entry.get("label", "")
    if (problem := label_error(label)) is not None:
        errors.append((f"{path}.label", problem))
    overrides = {k: v for k, v in entry.items() if k not in _RULE_KEYS}
    try:
        overrides = validate_overrides(overrides, path=path)
    except PolicyValueError as exc:
        errors.extend(exc.errors)
    else:
        # Checked here, beside the other problems of the entry, so one import reports them all.
        errors.extend(rule_consistency_errors(overrides, path, min_inactivity_timeout_secs=floor))
    if errors or not isinstance(selector, str):
        return None, errors
    return PolicyRule(selector=selector, priority=priority, overrides=overrides, label=label), []


def policy_document(policy_set: PolicySet) -> dict[str, Any]:
    """The JSON export of ``policy_set``; :func:`parse_policy_document` reads it back unchanged."""
    tags = []
    for rule in policy_set.rules:
        entry: dict[str, Any] = {"tag": rule.selector, "priority": rule.priority}
        if rule.label != rule.selector:
            entry["label"] = rule.label
        entry.update(_export(rule.overrides))
        tags.append(entry)
    return {
        "defaults": _export(policy_set.defaults),
        "tag_priority": list(policy_set.tag_priority),
        "on_create_only_tags": list(policy_set.create_only_tag_types),
        "tags": tags,
    }
