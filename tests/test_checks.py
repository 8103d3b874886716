"""System checks name the wrong BYO_SESSIONS value and what to write instead."""
from __future__ import annotations

import pytest

from byo_sessions.checks import check_settings


def ids(settings, value):
    settings.BYO_SESSIONS = value
    return sorted({e.id for e in check_settings()})


@pytest.mark.parametrize("value,expected", [
    ({}, []),
    ({"NO_SUCH_KEY": 1}, ["byo_sessions.E002"]),
    ({"ABSOLUTE_LIFETIME_SECS": 0}, ["byo_sessions.E003"]),
    ({"TOUCH_INTERVAL_SECS": "60"}, ["byo_sessions.E003"]),
    ({"INACTIVITY_TIMEOUT_SECS": -1}, ["byo_sessions.E004"]),
    ({"ROTATION_GRACE_SECS": 301}, ["byo_sessions.E005"]),
    ({"COOKIE_SAMESITE": "lax"}, ["byo_sessions.E006"]),
    ({"COOKIE_SECURE": True, "COOKIE_DOMAIN": "example.com"}, ["byo_sessions.E007"]),
    ({"TOKEN_PREFIX": "bad prefix!"}, ["byo_sessions.E008"]),
    ({"PROXY_COUNT": -1}, ["byo_sessions.E009"]),
    ({"DEFAULT_POLICY": {"ip_allowlist": ["10.0.0.1/24"]}}, ["byo_sessions.E010"]),
    ({"DEFAULT_POLICY": {"on_ip_address_change": "explode"}}, ["byo_sessions.E010"]),
])
def test_settings_checks(settings, value, expected):
    assert ids(settings, value) == expected


def test_insecure_cookie_outside_debug_warns(settings):
    settings.DEBUG = False
    assert ids(settings, {"COOKIE_SECURE": False}) == ["byo_sessions.W001"]


def test_policy_default_error_names_the_key(settings):
    settings.BYO_SESSIONS = {"DEFAULT_POLICY": {"ip_allowlist": ["10.0.0.1/24"]}}
    (error,) = check_settings()
    assert "ip_allowlist" in error.msg and "10.0.0.0/24" in error.msg
