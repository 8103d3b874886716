"""User-Agent parsing into a small summary, and spotting suspicious changes.

A session remembers the browser, OS and device type it was created from.
When a later request disagrees in a way a real browser does not (a different
OS or browser, a phone turning into a desktop, a browser going back in
version), the token may have been copied elsewhere; :func:`suspicious_change`
names the reason and the policy decides what to do.

Parsing uses ua-parser 1.0 with its Rust regex backend (``ua-parser[regex]``)
and an LRU cache keyed by the first :data:`MAX_UA_LENGTH` characters, since a
site sees few distinct UAs and parsing one costs far more than a lookup.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from ua_parser import Domain, Parser, load_lazy_builtins

from .text import storable

__all__ = [
    "DeviceType",
    "MAX_UA_LENGTH",
    "clean_user_agent",
    "UserAgentSummary",
    "parse_user_agent",
    "suspicious_change",
]

DeviceType = Literal["Desktop", "Mobile", "Tablet", "Bot", "Unknown"]
ChangeReason = Literal["os_changed", "device_type_changed", "browser_changed", "browser_version_downgraded"]

MAX_UA_LENGTH = 1024


def clean_user_agent(user_agent: Any) -> str | None:
    """The User-Agent as sessions store and compare it, and challenges bind it (cut to
    :data:`MAX_UA_LENGTH`): one cut everywhere, so a long one still matches its challenge."""
    if user_agent is None:
        return None
    return storable(str(user_agent)[:MAX_UA_LENGTH])


CACHE_SIZE = 2048

_DEVICE_TYPES: tuple[str, ...] = get_args(DeviceType)
# ua-parser's names -> what people call them today.
_OS_NAMES = {"Mac OS X": "macOS"}
_DESKTOP_OS = frozenset(
    {
        "Windows",
        "macOS",
        "Linux",
        "Ubuntu",
        "Debian",
        "Fedora",
        "Red Hat",
        "SUSE",
        "Chrome OS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
        "Mint",
        "Arch Linux",
        "CentOS",
        "Gentoo",
    }
)
_MOBILE_OS = frozenset({"Android", "iOS", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS", "Tizen"})


@dataclass(frozen=True, slots=True)
class UserAgentSummary:
    """What a session keeps of a User-Agent; every field is None when unknown."""

    browser: str | None = None
    browser_version: str | None = None
    browser_major: int | None = None
    os: str | None = None
    os_version: str | None = None
    device_type: DeviceType = "Unknown"

    @property
    def is_unknown(self) -> bool:
        """True when nothing was recognised (no or unparsable User-Agent)."""
        return self == _UNKNOWN

    @property
    def display_name(self) -> str:
        """Short label for session lists, e.g. ``Chrome 131 on macOS``."""
        browser = self.browser
        if browser and self.browser_major is not None:
            browser = f"{browser} {self.browser_major}"
        if browser and self.os:
            return f"{browser} on {self.os}"
        if browser:
            return browser
        if self.os:
            return f"Unknown browser on {self.os}"
        return "Unknown device"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the field names as keys."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> UserAgentSummary:
        """Rebuild from :meth:`to_dict` output, tolerating missing or stale keys.

        Stored rows outlive code versions, so unknown keys are ignored, wrong
        types become None and an unknown device type becomes ``Unknown``.
        """
        data = data or {}

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        major = data.get("browser_major")
        device_type = data.get("device_type")
        return cls(
            browser=text("browser"),
            browser_version=text("browser_version"),
            browser_major=major if isinstance(major, int) and not isinstance(major, bool) else None,
            os=text("os"),
            os_version=text("os_version"),
            device_type=device_type if device_type in _DEVICE_TYPES else "Unknown",
        )


_UNKNOWN = UserAgentSummary()


@functools.cache
def _parser() -> Parser:
    """The regex (Rust) backend over the built-in rules, without ua-parser's own cache."""
    from ua_parser.regex import Resolver  # ImportError here means ua-parser[regex] is missing

    return Parser(Resolver(load_lazy_builtins()))


def _version(*parts: str | None) -> str | None:
    """Dotted version from the leading known parts (``131``, ``0``, ``6778``)."""
    known: list[str] = []
    for part in parts:
        if part is None or part == "":
            break
        known.append(part)
    return ".".join(known) or None


def _device_type(os_name: str | None, device_family: str | None, device_brand: str | None) -> DeviceType:
    family = device_family or ""
    if family == "Spider":
        return "Bot"
    if family == "iPad" or "Tablet" in family or (device_brand or "").endswith("_Tablet") or "Kindle" in family:
        return "Tablet"
    if family == "iPhone" or family == "Generic Smartphone" or os_name in _MOBILE_OS:
        return "Mobile"
    if os_name in _DESKTOP_OS or (os_name or "").startswith("Windows"):
        return "Desktop"
    return "Unknown"


@functools.lru_cache(maxsize=CACHE_SIZE)
def _parse(ua: str) -> UserAgentSummary:
    result = _parser()(ua, Domain.ALL)
    agent, os_, device = result.user_agent, result.os, result.device
    browser = agent.family if agent and agent.family != "Other" else None
    os_name = _OS_NAMES.get(os_.family, os_.family) if os_ and os_.family != "Other" else None
    major = agent.major if browser and agent else None
    return UserAgentSummary(
        browser=browser,
        browser_version=_version(agent.major, agent.minor, agent.patch) if browser and agent else None,
        browser_major=int(major) if major and major.isascii() and major.isdigit() else None,
        os=os_name,
        os_version=_version(os_.major, os_.minor, os_.patch) if os_name and os_ else None,
        device_type=_device_type(os_name, device.family if device else None, device.brand if device else None),
    )


def parse_user_agent(ua: str | None) -> UserAgentSummary:
    """Summarise a User-Agent header; None, blank or non-text gives an all-unknown summary."""
    if not isinstance(ua, str) or not ua.strip():
        return _UNKNOWN
    return _parse(ua[:MAX_UA_LENGTH])


def _major(summary: UserAgentSummary) -> int | None:
    """The browser's major version: ``browser_major``, else the leading number of ``browser_version``."""
    if summary.browser_major is not None:
        return summary.browser_major
    first = (summary.browser_version or "").split(".")[0]
    return int(first) if first.isascii() and first.isdigit() else None


def suspicious_change(before: UserAgentSummary, after: UserAgentSummary) -> ChangeReason | None:
    """Why ``after`` is unlikely to be the same browser as ``before``, or None.

    Rules, checked in this order (the first that applies is returned):

    1. ``before`` entirely unknown (no UA recorded at creation): nothing to
       compare with, so None. This also covers "both unknown".
    2. ``os_changed``: the OS name differs (a missing OS counts as a value,
       so a Windows session replayed from ``curl`` is caught). OS *versions*
       are ignored: OS updates are routine and browsers freeze them anyway.
    3. ``device_type_changed``: Desktop / Mobile / Tablet / Bot / Unknown differs.
    4. ``browser_changed``: the browser name differs.
    5. ``browser_version_downgraded``: same browser, and the *major* version
       went down (121 -> 120). Browsers update themselves forwards, so any
       upgrade is normal; minor and patch numbers are ignored, since vendors
       roll those back and forth between channels and builds (120.0.6099 ->
       120.0.6000 is not suspicious).

    Known blind spot: iPadOS Safari in its default "desktop" mode sends a
    macOS UA, so it reads as macOS/Desktop.
    """
    if before.is_unknown:
        return None
    if before.os != after.os:
        return "os_changed"
    if before.device_type != after.device_type:
        return "device_type_changed"
    if before.browser != after.browser:
        return "browser_changed"
    old, new = _major(before), _major(after)
    if old is not None and new is not None and new < old:
        return "browser_version_downgraded"
    return None
