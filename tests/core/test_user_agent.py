import dataclasses
import json

import pytest
import ua_parser
from hypothesis import given
from hypothesis import strategies as st

from byo_sessions.core import user_agent as ua_module
from byo_sessions.core.user_agent import MAX_UA_LENGTH, UserAgentSummary, parse_user_agent, suspicious_change
from tests.core import user_agents as UA

REAL = UA.ALL


def test_the_corpus_is_real_sized_and_distinct() -> None:
    assert len(REAL) >= 30
    assert len(set(REAL.values())) == len(REAL)


def test_rust_regex_backend_is_used() -> None:
    from ua_parser.regex import Resolver

    assert isinstance(ua_module._parser().resolver, Resolver)


# Expected values are what ua-parser reports for these strings (checked against
# ua_parser.parse below), with "Mac OS X" shown as "macOS".
@pytest.mark.parametrize(
    ("name", "browser", "version", "major", "os", "os_version", "device_type", "display"),
    [
        ("CHROME_131_WINDOWS", "Chrome", "131.0.0", 131, "Windows", "10", "Desktop", "Chrome 131 on Windows"),
        (
            "CHROME_120_0_6099_109_WINDOWS",
            "Chrome",
            "120.0.6099",
            120,
            "Windows",
            "10",
            "Desktop",
            "Chrome 120 on Windows",
        ),
        ("CHROME_131_MACOS", "Chrome", "131.0.0", 131, "macOS", "10.15.7", "Desktop", "Chrome 131 on macOS"),
        ("CHROME_131_LINUX", "Chrome", "131.0.0", 131, "Linux", None, "Desktop", "Chrome 131 on Linux"),
        (
            "CHROME_131_ANDROID_PHONE",
            "Chrome Mobile",
            "131.0.0",
            131,
            "Android",
            "10",
            "Mobile",
            "Chrome Mobile 131 on Android",
        ),
        ("CHROME_131_ANDROID_TABLET", "Chrome", "131.0.0", 131, "Android", "10", "Tablet", "Chrome 131 on Android"),
        (
            "CHROME_126_IPAD",
            "Chrome Mobile iOS",
            "126.0.6478",
            126,
            "iOS",
            "17.5",
            "Tablet",
            "Chrome Mobile iOS 126 on iOS",
        ),
        ("EDGE_131_WINDOWS", "Edge", "131.0.0", 131, "Windows", "10", "Desktop", "Edge 131 on Windows"),
        ("FIREFOX_133_MACOS", "Firefox", "133.0", 133, "macOS", "10.15", "Desktop", "Firefox 133 on macOS"),
        (
            "FIREFOX_133_ANDROID_TABLET",
            "Firefox Mobile",
            "133.0",
            133,
            "Android",
            "14",
            "Tablet",
            "Firefox Mobile 133 on Android",
        ),
        ("SAFARI_18_IPHONE", "Mobile Safari", "18.1", 18, "iOS", "18.1", "Mobile", "Mobile Safari 18 on iOS"),
        ("SAFARI_17_MACOS", "Safari", "17.6", 17, "macOS", "10.15.7", "Desktop", "Safari 17 on macOS"),
        ("GOOGLEBOT_DESKTOP", "Googlebot", "2.1", 2, None, None, "Bot", "Googlebot 2"),
        ("GOOGLEBOT_SMARTPHONE", "Googlebot", "2.1", 2, "Android", "6.0.1", "Bot", "Googlebot 2 on Android"),
        ("CURL", "curl", "8.5.0", 8, None, None, "Unknown", "curl 8"),
    ],
)
def test_parsed_fields(
    name: str,
    browser: str,
    version: str,
    major: int,
    os: str | None,
    os_version: str | None,
    device_type: str,
    display: str,
) -> None:
    summary = parse_user_agent(REAL[name])
    assert summary == UserAgentSummary(browser, version, major, os, os_version, device_type)  # type: ignore[arg-type]
    assert summary.display_name == display


@pytest.mark.parametrize("name", sorted(REAL))
def test_every_real_string_agrees_with_ua_parser(name: str) -> None:
    raw = ua_parser.parse(REAL[name])
    summary = parse_user_agent(REAL[name])
    assert summary.browser == raw.user_agent.family
    assert summary.browser_major == int(raw.user_agent.major)
    assert summary.browser_version.split(".")[0] == raw.user_agent.major
    assert summary.os == ({"Mac OS X": "macOS"}.get(raw.os.family, raw.os.family) if raw.os else None)
    assert summary.display_name.startswith(summary.browser)


@pytest.mark.parametrize(
    ("device_type", "names"),
    [
        (
            "Desktop",
            [
                "CHROME_131_WINDOWS",
                "CHROME_131_CHROMEOS",
                "FIREFOX_133_UBUNTU",
                "SAFARI_18_MACOS",
                "OPERA_115_WINDOWS",
                "CHROME_109_WINDOWS_7",
            ],
        ),
        (
            "Mobile",
            [
                "CHROME_90_ANDROID_PIXEL_5",
                "CHROME_126_IPHONE",
                "EDGE_131_ANDROID",
                "EDGE_131_IPHONE",
                "FIREFOX_133_ANDROID_PHONE",
                "FIREFOX_133_IPHONE",
                "SAMSUNG_INTERNET_26_GALAXY_S23",
                "ANDROID_WEBVIEW_PIXEL_7",
            ],
        ),
        ("Tablet", ["CHROME_120_ANDROID_GALAXY_TAB_S9", "SAFARI_18_IPAD", "CHROME_126_IPAD"]),
        ("Bot", ["BINGBOT", "GPTBOT", "FACEBOOK_EXTERNAL_HIT", "SLACKBOT_LINK_EXPANDING"]),
        ("Unknown", ["PYTHON_REQUESTS"]),
    ],
)
def test_device_types(device_type: str, names: list[str]) -> None:
    assert {name: parse_user_agent(REAL[name]).device_type for name in names} == dict.fromkeys(names, device_type)


@pytest.mark.parametrize("raw", [None, "", "   ", 42])
def test_missing_user_agent_is_all_unknown(raw: object) -> None:
    summary = parse_user_agent(raw)  # type: ignore[arg-type]
    assert summary == UserAgentSummary()
    assert summary.is_unknown
    assert summary.device_type == "Unknown"
    assert summary.display_name == "Unknown device"


def test_results_are_cached_on_the_truncated_string() -> None:
    ua_module._parse.cache_clear()
    long_ua = REAL["CHROME_131_WINDOWS"] + " " + "x" * (2 * MAX_UA_LENGTH)
    first = parse_user_agent(long_ua)
    second = parse_user_agent(long_ua[:MAX_UA_LENGTH] + "different tail")
    assert first is second
    info = ua_module._parse.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    assert info.maxsize == 2048


@pytest.mark.parametrize("name", sorted(REAL))
def test_dict_round_trip_through_json(name: str) -> None:
    summary = parse_user_agent(REAL[name])
    assert UserAgentSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, UserAgentSummary()),
        ({}, UserAgentSummary()),
        ({"browser": "Chrome", "extra": 1}, UserAgentSummary(browser="Chrome")),
        ({"device_type": "Toaster", "browser_major": "131"}, UserAgentSummary()),
        ({"browser_major": True, "os": 5}, UserAgentSummary()),
    ],
)
def test_from_dict_tolerates_stale_rows(data: dict | None, expected: UserAgentSummary) -> None:
    assert UserAgentSummary.from_dict(data) == expected


def test_summary_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse_user_agent(REAL["CHROME_131_WINDOWS"]).browser = "Other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("CHROME_120_0_6099_71_WINDOWS", "CHROME_120_0_6099_109_WINDOWS", None),  # minor update
        ("CHROME_120_0_6099_109_WINDOWS", "CHROME_120_0_6099_130_WINDOWS", None),
        ("CHROME_130_WINDOWS", "CHROME_131_WINDOWS", None),  # major upgrade
        ("CHROME_120_0_6099_109_WINDOWS", "CHROME_131_WINDOWS", None),
        ("SAFARI_17_MACOS", "SAFARI_18_MACOS", None),
        ("FIREFOX_128_ESR_WINDOWS", "FIREFOX_133_WINDOWS", None),
        ("CHROME_131_WINDOWS", "CHROME_131_WINDOWS", None),  # same string
        ("CHROME_131_WINDOWS", "CHROME_130_WINDOWS", "browser_version_downgraded"),
        ("CHROME_131_WINDOWS", "CHROME_120_0_6099_109_WINDOWS", "browser_version_downgraded"),
        ("SAFARI_18_MACOS", "SAFARI_17_MACOS", "browser_version_downgraded"),
        ("FIREFOX_133_WINDOWS", "FIREFOX_128_ESR_WINDOWS", "browser_version_downgraded"),
        ("CHROME_131_MACOS", "CHROME_131_WINDOWS", "os_changed"),  # Mac to Windows
        ("SAFARI_18_MACOS", "EDGE_131_WINDOWS", "os_changed"),
        ("CHROME_131_WINDOWS", "CHROME_131_LINUX", "os_changed"),
        ("CHROME_131_WINDOWS", "CURL", "os_changed"),  # token replayed by a script
        ("CHROME_131_WINDOWS", "FIREFOX_133_WINDOWS", "browser_changed"),  # Chrome to Firefox
        ("CHROME_131_MACOS", "SAFARI_18_MACOS", "browser_changed"),
        ("CHROME_131_WINDOWS", "EDGE_131_WINDOWS", "browser_changed"),
        ("CHROME_131_WINDOWS", "CHROME_131_ANDROID_PHONE", "os_changed"),  # desktop to mobile
        ("SAFARI_18_IPAD", "SAFARI_18_IPHONE", "device_type_changed"),  # same OS, tablet to phone
        ("CHROME_131_ANDROID_TABLET", "CHROME_131_ANDROID_PHONE", "device_type_changed"),
        ("CHROME_131_ANDROID_PHONE", "FIREFOX_133_ANDROID_PHONE", "browser_changed"),
        ("CHROME_131_WINDOWS", "GOOGLEBOT_DESKTOP", "os_changed"),
        ("BINGBOT", "GPTBOT", "browser_changed"),
    ],
)
def test_suspicious_change(before: str, after: str, expected: str | None) -> None:
    assert suspicious_change(parse_user_agent(REAL[before]), parse_user_agent(REAL[after])) == expected


def test_unknown_before_is_never_suspicious() -> None:
    unknown = parse_user_agent(None)
    assert suspicious_change(unknown, unknown) is None
    assert suspicious_change(unknown, parse_user_agent(REAL["CHROME_131_WINDOWS"])) is None
    assert suspicious_change(parse_user_agent(REAL["CHROME_131_WINDOWS"]), unknown) == "os_changed"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("131.0", "131.0.0", None),
        ("131.0.0", "131.0", None),
        ("131.0.6778", "131.0.6777", None),  # only the major counts: patch going back is not suspicious
        ("120.0.6099", "120.0.6000", None),
        ("18.1", "18.0", None),  # nor a minor
        ("121.0.0", "120.9.9", "browser_version_downgraded"),  # the major went back
        ("9.0", "10.0", None),  # numeric, not text, comparison
        ("10.0", "9.0", "browser_version_downgraded"),
        ("131.0.0", None, None),  # an unknown version is not a downgrade
        ("beta", "1.0", None),
    ],
)
def test_version_comparison(old: str, new: str | None, expected: str | None) -> None:
    base = UserAgentSummary(browser="Chrome", os="Windows", device_type="Desktop")
    before = dataclasses.replace(base, browser_version=old)
    after = dataclasses.replace(base, browser_version=new)
    assert suspicious_change(before, after) == expected


_CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{} Safari/537.36"
_SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{} Safari/605.1.15"
)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (_CHROME_WIN.format("120.0.6099.109"), _CHROME_WIN.format("120.0.6000.0"), None),
        (_SAFARI_MAC.format("18.1"), _SAFARI_MAC.format("18.0"), None),
        (_CHROME_WIN.format("121.0.6167.85"), _CHROME_WIN.format("120.0.6099.109"), "browser_version_downgraded"),
    ],
)
def test_only_a_major_version_going_back_is_suspicious(before: str, after: str, expected: str | None) -> None:
    assert suspicious_change(parse_user_agent(before), parse_user_agent(after)) == expected


def test_the_major_comes_from_browser_major_when_the_version_text_is_missing() -> None:
    base = UserAgentSummary(browser="Chrome", os="Windows", device_type="Desktop")
    newer, older = dataclasses.replace(base, browser_major=121), dataclasses.replace(base, browser_major=120)
    assert suspicious_change(newer, older) == "browser_version_downgraded"
    assert suspicious_change(older, newer) is None


@pytest.mark.parametrize("name", sorted(REAL))
def test_no_real_string_is_suspicious_against_itself(name: str) -> None:
    summary = parse_user_agent(REAL[name])
    assert suspicious_change(summary, summary) is None


@given(st.text(max_size=300))
def test_parse_never_fails_on_arbitrary_text(raw: str) -> None:
    summary = parse_user_agent(raw)
    assert summary.device_type in ("Desktop", "Mobile", "Tablet", "Bot", "Unknown")
    assert UserAgentSummary.from_dict(summary.to_dict()) == summary
    assert suspicious_change(summary, summary) is None
