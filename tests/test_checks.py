"""System checks name the wrong BYO_SESSIONS value and what to write instead."""
from __future__ import annotations

import pytest
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from byo_sessions.checks import check_middleware, check_settings
from byo_sessions.conf import DEFAULTS


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


@pytest.mark.parametrize("value,expected", [
    ({"TAG_PRIORITY": "org"}, ["byo_sessions.E011"]),
    ({"TAG_PRIORITY": ["Org Type"]}, ["byo_sessions.E011"]),
    ({"CREATE_ONLY_TAG_TYPES": ["*"]}, []),
    ({"TRUSTED_PROXIES": ["10.0.0.0/8", "not-a-network"]}, ["byo_sessions.E012"]),
    ({"TRUSTED_PROXIES": "10.0.0.0/8"}, ["byo_sessions.E012"]),
    ({"ABSOLUTE_LIFETIME_SECS": 12 * 3600}, []),  # shorter than the default idle timeout: fine
    ({"DEFAULT_POLICY": {"absolute_lifetime_secs": None}}, []),  # None means "not set here"
])
def test_list_settings_and_lifetimes(settings, value, expected):
    assert ids(settings, value) == expected


@pytest.mark.django_db
def test_a_short_lifetime_setting_works_at_request_time(settings, user):
    from byo_sessions import is_ok, sessions

    settings.BYO_SESSIONS = {"ABSOLUTE_LIFETIME_SECS": 12 * 3600, "DEFAULT_POLICY": {"absolute_lifetime_secs": None}}
    created = sessions.create(user_id=user.pk)
    assert is_ok(created) and is_ok(sessions.validate(session_token=created.data.session_token))


def test_policy_errors_are_reported_beside_a_warning(settings):
    settings.DEBUG = False
    assert ids(settings, {"DEFAULT_POLICY": {"ip_allowlist": ["x"]}}) == [
        "byo_sessions.E010", "byo_sessions.W001"]


@pytest.mark.parametrize("value", [
    {"DEFAULT_POLICY": {"max_concurrent_sessions_per_user_per_tag": 3}},
    {"TAG_PRIORITY": ["org", "org"]},
])
def test_whole_policy_set_is_validated(settings, value):
    assert ids(settings, value) == ["byo_sessions.E010"]


@pytest.mark.django_db
def test_stored_settings_of_the_wrong_shape_fall_back_to_settings(user, caplog):
    from byo_sessions import is_ok, sessions
    from byo_sessions.models import PolicySetting

    PolicySetting.objects.create(key="tag_priority", value="org")  # written around the admin form
    created = sessions.create(user_id=user.pk, tags=["org:a"])
    assert is_ok(created)
    assert "stored policy set is invalid" in caplog.text


@pytest.mark.parametrize("key,value,expected", [
    ("COOKIE_NAME", "bad name;", ["byo_sessions.E018"]),
    ("COOKIE_NAME", "", ["byo_sessions.E018"]),
    ("COOKIE_NAME", "sid\r\nX-Evil: 1", ["byo_sessions.E018"]),
    ("COOKIE_NAME", "sid=1", ["byo_sessions.E018"]),
    ("COOKIE_NAME", 5, ["byo_sessions.E018"]),
    ("COOKIE_NAME", b"byo_token", ["byo_sessions.E018"]),
    ("COOKIE_HTTPONLY", "false", ["byo_sessions.E017"]),
    ("COOKIE_HTTPONLY", 0, ["byo_sessions.E017"]),
    ("COOKIE_SECURE", "false", ["byo_sessions.E017"]),
    ("COOKIE_SECURE", 1, ["byo_sessions.E017"]),
    ("COOKIE_PERSISTENT", "no", ["byo_sessions.E017"]),
    ("COOKIE_PERSISTENT", None, ["byo_sessions.E017"]),
    ("ALLOW_BEARER", "false", ["byo_sessions.E017"]),
    ("ALLOW_BEARER", None, ["byo_sessions.E017"]),
    ("COOKIE_PATH", "app", ["byo_sessions.E007", "byo_sessions.E019"]),  # E007: __Host- needs Path=/
    ("COOKIE_PATH", "/a;b", ["byo_sessions.E007", "byo_sessions.E019"]),
    ("COOKIE_PATH", None, ["byo_sessions.E007", "byo_sessions.E019"]),
    ("COOKIE_DOMAIN", "", ["byo_sessions.E019"]),
    ("COOKIE_DOMAIN", "exa mple.com", ["byo_sessions.E007", "byo_sessions.E019"]),
    ("COOKIE_DOMAIN", ["example.com"], ["byo_sessions.E007", "byo_sessions.E019"]),
    ("REFRESHED_TOKEN_HEADER", "BYO Session Token", ["byo_sessions.E020"]),
    ("REFRESHED_TOKEN_HEADER", "X-Token\r\nSet-Cookie: a=b", ["byo_sessions.E020"]),
    ("REFRESHED_TOKEN_HEADER", "X-Token:", ["byo_sessions.E020"]),
    ("REFRESHED_TOKEN_HEADER", "", ["byo_sessions.E020"]),
    ("REFRESHED_TOKEN_HEADER", None, ["byo_sessions.E020"]),
    ("AUDIT_LOGGER", "", ["byo_sessions.E021"]),
    ("AUDIT_LOGGER", "  ", ["byo_sessions.E021"]),
    ("AUDIT_LOGGER", None, ["byo_sessions.E021"]),
    ("AUDIT_LOGGER", ["byo_sessions.audit"], ["byo_sessions.E021"]),
    ("DEFAULT_POLICY", "x", ["byo_sessions.E022"]),
    ("DEFAULT_POLICY", [("absolute_lifetime_secs", 60)], ["byo_sessions.E022"]),
])
def test_bad_value_is_an_error_naming_the_key(settings, key, value, expected):
    settings.BYO_SESSIONS = {key: value}
    messages = check_settings()
    assert sorted({m.id for m in messages}) == expected
    named = [m for m in messages if m.id == expected[-1]]
    assert named and all(isinstance(m, Error) for m in named)
    assert all(f"BYO_SESSIONS[{key!r}]" in m.msg for m in named)


@pytest.mark.parametrize("value", [
    {"COOKIE_NAME": "my_app_token"},
    {"COOKIE_NAME": "__Host-my_token", "COOKIE_SECURE": True},
    {"COOKIE_NAME": "my_token", "COOKIE_PATH": "/app", "COOKIE_DOMAIN": ".example.com"},
    {"COOKIE_SECURE": None, "COOKIE_HTTPONLY": False, "COOKIE_PERSISTENT": False, "ALLOW_BEARER": False},
    {"COOKIE_SAMESITE": None},
    {"REFRESHED_TOKEN_HEADER": "X-Refreshed-Token"},
    {"AUDIT_LOGGER": "myproject.audit"},
    {"DEFAULT_POLICY": None},
])
def test_good_values_give_no_message(settings, value):
    assert ids(settings, value) == []


@pytest.mark.parametrize("debug", [False, True])
def test_defaults_give_no_message(settings, debug):
    settings.DEBUG = debug
    assert ids(settings, {}) == []


WEIRD_VALUES = [None, "", "x", "false", -1, 0, 1.5, True, False, b"x", [], [None], [1], ("a",), {}, {"a": 1},
                {1: 2}, object()]


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_no_value_makes_the_check_raise(settings, key):
    """Every value a key can hold gets a message from its own check, never a crash (E023)."""
    for value in WEIRD_VALUES:
        settings.BYO_SESSIONS = {key: value}
        messages = check_settings()
        assert all(isinstance(m, CheckMessage) for m in messages)
        assert "byo_sessions.E023" not in {m.id for m in messages}, (value, messages)


@pytest.mark.parametrize("value,expected", [
    ("x", ["byo_sessions.E001"]),
    ([("COOKIE_NAME", "x")], ["byo_sessions.E001"]),
    (5, ["byo_sessions.E001"]),
    ({1: 2, "NO_SUCH_KEY": 3}, ["byo_sessions.E002"]),
])
def test_odd_byo_sessions_values(settings, value, expected):
    assert ids(settings, value) == expected


def test_default_policy_of_the_wrong_type_names_the_key(settings):
    settings.BYO_SESSIONS = {"DEFAULT_POLICY": "x"}
    (error,) = check_settings()
    assert error.id == "byo_sessions.E022" and "BYO_SESSIONS['DEFAULT_POLICY']" in error.msg


def test_a_crashing_check_becomes_an_error_naming_its_keys(settings, monkeypatch):
    from byo_sessions import policy_store

    def crash() -> None:
        raise AttributeError("'str' object has no attribute 'items'")

    monkeypatch.setattr(policy_store, "settings_policy_set", crash)
    settings.BYO_SESSIONS = {}
    (error,) = check_settings()
    assert error.id == "byo_sessions.E023" and isinstance(error, Error)
    assert "BYO_SESSIONS['DEFAULT_POLICY']" in error.msg and "AttributeError" in error.msg


OURS = "byo_sessions.middleware.SessionMiddleware"
DJANGO_AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
DJANGO_SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"


@pytest.mark.parametrize("middleware,expected", [
    ([OURS], []),
    ([DJANGO_SESSIONS, DJANGO_AUTH], []),  # not using byo_sessions' middleware: not our business
    ([DJANGO_SESSIONS, DJANGO_AUTH, OURS], ["byo_sessions.W004", "byo_sessions.W003"]),
    ([DJANGO_SESSIONS, OURS, DJANGO_AUTH], ["byo_sessions.E024", "byo_sessions.W003"]),
    ([OURS, DJANGO_AUTH], ["byo_sessions.E024"]),
    ([DJANGO_AUTH, OURS], ["byo_sessions.E024"]),  # no Django SessionMiddleware: every request fails
    ([DJANGO_SESSIONS, OURS], ["byo_sessions.W003"]),
])
def test_django_auth_middleware_beside_ours_is_an_error(settings, middleware, expected):
    settings.MIDDLEWARE = middleware
    assert [m.id for m in check_middleware()] == expected


@pytest.mark.django_db
@pytest.mark.parametrize("middleware,expected_user", [
    ([OURS], "alice"),
    ([DJANGO_SESSIONS, DJANGO_AUTH, OURS], "alice"),  # W004: works, the auth middleware is dead weight
    ([DJANGO_SESSIONS, OURS, DJANGO_AUTH], None),  # what E024 reports: the login looks anonymous
    ([DJANGO_AUTH, OURS], "500"),  # and the other thing it reports: every request fails
])
def test_what_the_error_guards_against(settings, client, django_user_model, middleware, expected_user):
    from byo_sessions import sessions

    settings.BYO_SESSIONS = {}
    settings.MIDDLEWARE = middleware
    alice = django_user_model.objects.create_user(username="alice", password="pw-alice-123")
    created = sessions.create(user_id=alice.pk).data
    client.cookies["session_token"] = created.session_token
    if expected_user == "500":
        with pytest.raises(ImproperlyConfigured):
            client.get("/whoami/")
        return
    body = client.get("/whoami/").json()
    assert body["session_id"] == created.session_id and body["user"] == expected_user
