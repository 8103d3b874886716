"""System checks name the wrong setting and what to write instead; the README's setup
passes them all with nothing silenced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks import CheckMessage, Error, Warning, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpRequest
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.views.debug import SafeExceptionReporterFilter, get_default_exception_reporter_filter
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from byo_sessions.adapter import SessionAdapter
from byo_sessions.checks import check_deploy, check_integration, check_settings
from byo_sessions.conf import DEFAULTS
from byo_sessions.values import LoginOptions

ENGINE = "byo_sessions.backends.db"
OURS = "byo_sessions.middleware.SessionMiddleware"
OUR_AUTH = "byo_sessions.middleware.AuthenticationMiddleware"
DJANGO_SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
DJANGO_AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
LOGIN_REQUIRED = "django.contrib.auth.middleware.LoginRequiredMiddleware"


def ids(settings, value):
    settings.BYO_SESSIONS = value
    return sorted({e.id for e in check_settings()})


class ProjectAdapter(SessionAdapter):
    """A project's adapter, named by its dotted path in the E025 tests."""


class NotAnAdapter:
    """Has the methods but is no SessionAdapter: E025 all the same."""

    def login_options(self, request: HttpRequest | None, user: Any) -> LoginOptions:
        return LoginOptions()


class ShowsCookies(SafeExceptionReporterFilter):
    """A project filter that lists every cookie as it came: what W002 is about."""

    def get_safe_cookies(self, request: HttpRequest) -> dict[str, Any]:
        return dict(request.COOKIES)


@pytest.fixture
def fresh_filter() -> Iterator[None]:
    """Django caches the filter instance; drop it around a test that swaps the class."""
    get_default_exception_reporter_filter.cache_clear()
    yield
    get_default_exception_reporter_filter.cache_clear()


# --- BYO_SESSIONS values -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ({}, []),
        ({"NO_SUCH_KEY": 1}, ["byo_sessions.E002"]),
        ({"ABSOLUTE_LIFETIME_SECS": 0}, ["byo_sessions.E003"]),
        ({"TOUCH_INTERVAL_SECS": "60"}, ["byo_sessions.E003"]),
        ({"ANONYMOUS_LIFETIME_SECS": 0}, ["byo_sessions.E003"]),
        ({"INACTIVITY_TIMEOUT_SECS": -1}, ["byo_sessions.E004"]),
        ({"ROTATION_GRACE_SECS": 301}, ["byo_sessions.E005"]),
        ({"COOKIE_SAMESITE": "lax"}, ["byo_sessions.E002"]),  # the cookie is Django's now
        ({"COOKIE_SECURE": True, "COOKIE_DOMAIN": "example.com"}, ["byo_sessions.E002"]),
        ({"TOKEN_PREFIX": "bad prefix!"}, ["byo_sessions.E008"]),
        ({"PROXY_COUNT": -1}, ["byo_sessions.E009"]),
        ({"DEFAULT_POLICY": {"ip_allowlist": ["10.0.0.1/24"]}}, ["byo_sessions.E010"]),
        ({"DEFAULT_POLICY": {"on_ip_address_change": "explode"}}, ["byo_sessions.E010"]),
    ],
)
def test_settings_checks(settings, value, expected):
    assert ids(settings, value) == expected


@pytest.mark.parametrize(
    "key,replacement",
    [
        ("COOKIE_NAME", "SESSION_COOKIE_NAME"),
        ("COOKIE_SECURE", "SESSION_COOKIE_SECURE"),
        ("COOKIE_HTTPONLY", "SESSION_COOKIE_HTTPONLY"),
        ("COOKIE_SAMESITE", "SESSION_COOKIE_SAMESITE"),
        ("COOKIE_PATH", "SESSION_COOKIE_PATH"),
        ("COOKIE_DOMAIN", "SESSION_COOKIE_DOMAIN"),
        ("COOKIE_PERSISTENT", "SESSION_EXPIRE_AT_BROWSER_CLOSE"),
    ],
)
def test_an_old_cookie_key_names_the_django_setting_that_replaced_it(settings, key, replacement):
    settings.BYO_SESSIONS = {key: True}
    (error,) = check_settings()
    assert error.id == "byo_sessions.E002" and isinstance(error, Error)
    assert repr(key) in error.msg and replacement in error.hint


def test_an_unknown_key_points_at_the_settings_docs(settings):
    settings.BYO_SESSIONS = {"NO_SUCH_KEY": 1}
    (error,) = check_settings()
    assert error.id == "byo_sessions.E002" and "'NO_SUCH_KEY'" in error.msg
    assert "docs/settings.md" in error.hint and "SESSION_" not in error.hint


def test_policy_default_error_names_the_key(settings):
    settings.BYO_SESSIONS = {"DEFAULT_POLICY": {"ip_allowlist": ["10.0.0.1/24"]}}
    (error,) = check_settings()
    assert "ip_allowlist" in error.msg and "10.0.0.0/24" in error.msg


@pytest.mark.parametrize(
    "settings_value, error_id",
    [
        ({"STATELESS_TOKEN_LIFETIME_SECS": 0}, "byo_sessions.E014"),
        ({"STATELESS_TOKEN_LIFETIME_SECS": 7200}, "byo_sessions.E014"),
        ({"STATELESS_TOKEN_MAX_LIFETIME_SECS": 10**6}, "byo_sessions.E014"),
        ({"STATELESS_TOKEN_ISSUER": ""}, "byo_sessions.E015"),
        ({"STATELESS_TOKEN_AUDIENCE": None}, "byo_sessions.E015"),
        ({"STATELESS_KEY_REFRESH_SECS": 0}, "byo_sessions.E016"),
        ({"STATELESS_KEY_MAX_STALENESS_SECS": -1}, "byo_sessions.E030"),
        ({"STATELESS_KEY_MAX_STALENESS_SECS": "300"}, "byo_sessions.E030"),
        ({"STATELESS_KEY_MAX_STALENESS_SECS": 86401}, "byo_sessions.E030"),
        ({"UNKNOWN_TOKEN_THRESHOLD": 0}, "byo_sessions.E032"),
        ({"UNKNOWN_TOKEN_THRESHOLD": "20"}, "byo_sessions.E032"),
        ({"UNKNOWN_TOKEN_WINDOW_SECS": 0}, "byo_sessions.E032"),
        ({"UNKNOWN_TOKEN_WINDOW_SECS": 86401}, "byo_sessions.E032"),
        ({"ADMIN_SITE_HEADER": ""}, "byo_sessions.E035"),
        ({"ADMIN_SITE_HEADER": 3}, "byo_sessions.E035"),
        ({"OVERVIEW_CACHE_SECS": -1}, "byo_sessions.E036"),
        ({"OVERVIEW_CACHE_SECS": "60"}, "byo_sessions.E036"),
        ({"OVERVIEW_CACHE_SECS": 3601}, "byo_sessions.E036"),
    ],
)
def test_stateless_token_and_admin_settings_checks(settings, settings_value, error_id):
    settings.BYO_SESSIONS = settings_value
    assert {e.id for e in check_settings()} == {error_id}


@pytest.mark.parametrize(
    "value,expected",
    [
        ({"TAG_PRIORITY": "org"}, ["byo_sessions.E011"]),
        ({"TAG_PRIORITY": ["Org Type"]}, ["byo_sessions.E011"]),
        ({"CREATE_ONLY_TAG_TYPES": ["*"]}, []),
        ({"TRUSTED_PROXIES": ["10.0.0.0/8", "not-a-network"]}, ["byo_sessions.E012"]),
        ({"TRUSTED_PROXIES": "10.0.0.0/8"}, ["byo_sessions.E012"]),
        ({"ABSOLUTE_LIFETIME_SECS": 12 * 3600}, []),  # shorter than the default idle timeout: fine
        ({"DEFAULT_POLICY": {"absolute_lifetime_secs": None}}, []),  # None means "not set here"
        ({"INACTIVITY_TIMEOUT_SECS": 119}, ["byo_sessions.W005"]),  # below 2 x TOUCH_INTERVAL_SECS (60)
        ({"INACTIVITY_TIMEOUT_SECS": 120}, []),
        ({"DEFAULT_POLICY": {"inactivity_timeout_secs": 20}}, ["byo_sessions.W005"]),
        ({"INACTIVITY_TIMEOUT_SECS": 20, "TOUCH_INTERVAL_SECS": 10}, []),
    ],
)
def test_list_settings_and_lifetimes(settings, value, expected):
    assert ids(settings, value) == expected


@pytest.mark.django_db
def test_a_short_lifetime_setting_works_at_request_time(settings, user):
    from byo_sessions import is_ok, sessions

    settings.BYO_SESSIONS = {"ABSOLUTE_LIFETIME_SECS": 12 * 3600, "DEFAULT_POLICY": {"absolute_lifetime_secs": None}}
    created = sessions.create(user_id=user.pk)
    assert is_ok(created) and is_ok(sessions.validate(session_token=created.data.session_token))


def test_policy_errors_are_reported_beside_a_warning(settings, fresh_filter):
    """Only Errors hold back the policy check (their keys feed it); a warning does not."""
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = f"{__name__}.ShowsCookies"
    assert ids(settings, {"DEFAULT_POLICY": {"ip_allowlist": ["x"]}}) == ["byo_sessions.E010", "byo_sessions.W002"]


@pytest.mark.parametrize(
    "value",
    [
        {"DEFAULT_POLICY": {"max_concurrent_sessions_per_user_per_tag": 3}},
        {"TAG_PRIORITY": ["org", "org"]},
    ],
)
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


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("ALLOW_BEARER", "false", ["byo_sessions.E017"]),
        ("ALLOW_BEARER", 0, ["byo_sessions.E017"]),
        ("ALLOW_BEARER", None, ["byo_sessions.E017"]),
        ("MIGRATE_DJANGO_SESSIONS", "true", ["byo_sessions.E017"]),
        ("MIGRATE_DJANGO_SESSIONS", 1, ["byo_sessions.E017"]),
        ("PREPARED_HOT_QUERY", "false", ["byo_sessions.E017"]),
        ("REFRESHED_TOKEN_HEADER", "BYO Session Token", ["byo_sessions.E020"]),
        ("REFRESHED_TOKEN_HEADER", "X-Token\r\nSet-Cookie: a=b", ["byo_sessions.E020"]),
        ("REFRESHED_TOKEN_HEADER", "X-Token:", ["byo_sessions.E020"]),
        ("REFRESHED_TOKEN_HEADER", "", ["byo_sessions.E020"]),
        ("REFRESHED_TOKEN_HEADER", None, ["byo_sessions.E020"]),
        ("PROXY_IP_HEADER", "HTTP_X_REAL_IP", ["byo_sessions.E031"]),  # a META key, not the header's name
        ("PROXY_IP_HEADER", "X Real IP", ["byo_sessions.E031"]),
        ("PROXY_IP_HEADER", "X-Real-IP:", ["byo_sessions.E031"]),
        ("PROXY_IP_HEADER", "", ["byo_sessions.E031"]),
        ("PROXY_IP_HEADER", None, ["byo_sessions.E031"]),
        ("PROXY_IP_HEADER", ["X-Real-IP"], ["byo_sessions.E031"]),
        ("PROXY_IP_HEADER", "Forwarded", ["byo_sessions.E031"]),  # RFC 7239 syntax is not read
        ("AUDIT_LOGGER", "", ["byo_sessions.E021"]),
        ("AUDIT_LOGGER", "  ", ["byo_sessions.E021"]),
        ("AUDIT_LOGGER", None, ["byo_sessions.E021"]),
        ("AUDIT_LOGGER", ["byo_sessions.audit"], ["byo_sessions.E021"]),
        ("DEFAULT_POLICY", "x", ["byo_sessions.E022"]),
        ("DEFAULT_POLICY", [("absolute_lifetime_secs", 60)], ["byo_sessions.E022"]),
        ("ADAPTER", "myproject.nowhere.ProjectAdapter", ["byo_sessions.E025"]),
        ("ADAPTER", "ProjectAdapter", ["byo_sessions.E025"]),  # not a dotted path
        ("ADAPTER", f"{__name__}.NoSuchAdapter", ["byo_sessions.E025"]),
        ("ADAPTER", f"{__name__}.NotAnAdapter", ["byo_sessions.E025"]),
        ("ADAPTER", f"{__name__}.ProjectAdapter()", ["byo_sessions.E025"]),
        ("ADAPTER", ProjectAdapter, ["byo_sessions.E025"]),  # the class itself, not its path
        ("ADAPTER", None, ["byo_sessions.E025"]),
    ],
)
def test_bad_value_is_an_error_naming_the_key(settings, key, value, expected):
    settings.BYO_SESSIONS = {key: value}
    messages = check_settings()
    assert sorted({m.id for m in messages}) == expected
    named = [m for m in messages if m.id == expected[-1]]
    assert named and all(isinstance(m, Error) for m in named)
    assert all(f"BYO_SESSIONS[{key!r}]" in m.msg for m in named)


@pytest.mark.parametrize(
    "value,problem",
    [
        ("myproject.nowhere.ProjectAdapter", "cannot be imported (ModuleNotFoundError: No module named 'myproject')"),
        (f"{__name__}.NoSuchAdapter", "cannot be imported"),
        (f"{__name__}.NotAnAdapter", "which is not a subclass of SessionAdapter"),
        ("byo_sessions.adapter.get_adapter", "which is not a subclass of SessionAdapter"),
        (ProjectAdapter, "must be a string, the dotted path of the class"),
        (5, "must be a string"),
    ],
)
def test_adapter_error_says_what_is_wrong(settings, value, problem):
    settings.BYO_SESSIONS = {"ADAPTER": value}
    (error,) = check_settings()
    assert error.id == "byo_sessions.E025" and problem in error.msg and repr(value) in error.msg
    assert "byo_sessions.adapter.SessionAdapter" in error.hint


def test_proxy_header_error_says_how_to_write_it(settings):
    settings.BYO_SESSIONS = {"PROXY_IP_HEADER": "HTTP_X_REAL_IP"}
    (error,) = check_settings()
    assert error.id == "byo_sessions.E031" and "no '_'" in error.msg and "'X-Real-IP'" in error.msg


def test_the_removed_login_hook_points_at_the_adapter(settings):
    settings.BYO_SESSIONS = {"LOGIN_SESSION_OPTIONS": "myproject.sessions.login_options"}
    (error,) = check_settings()
    assert error.id == "byo_sessions.E002" and "'LOGIN_SESSION_OPTIONS'" in error.msg
    assert "BYO_SESSIONS['ADAPTER']" in error.hint and "login_options" in error.hint


@pytest.mark.parametrize(
    "value",
    [
        {"ALLOW_BEARER": False},
        {"MIGRATE_DJANGO_SESSIONS": False},  # True needs django.contrib.sessions (E029): tests/test_django_sessions.py
        {"ANONYMOUS_LIFETIME_SECS": 3600},
        {"REFRESHED_TOKEN_HEADER": "X-Refreshed-Token"},
        {"PROXY_IP_HEADER": "X-Forwarded-For", "PROXY_COUNT": 1},
        {"PROXY_IP_HEADER": "x-real-ip", "TRUSTED_PROXIES": ["10.0.0.0/8"]},
        {"PROXY_IP_HEADER": "CF-Connecting-IP", "PROXY_COUNT": 2},
        {"AUDIT_LOGGER": "myproject.audit"},
        {"DEFAULT_POLICY": None},
        {"ADAPTER": "byo_sessions.adapter.SessionAdapter"},
        {"ADAPTER": f"{__name__}.ProjectAdapter"},
        {"ADAPTER": "example_project.demo.adapter.DemoAdapter"},
    ],
)
def test_good_values_give_no_message(settings, value):
    assert ids(settings, value) == []


@pytest.mark.parametrize("debug", [False, True])
def test_defaults_give_no_message(settings, debug):
    settings.DEBUG = debug
    assert ids(settings, {}) == []


WEIRD_VALUES = [
    None,
    "",
    "x",
    "false",
    -1,
    0,
    1.5,
    True,
    False,
    b"x",
    [],
    [None],
    [1],
    ("a",),
    {},
    {"a": 1},
    {1: 2},
    object(),
]


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_no_value_makes_the_check_raise(settings, key):
    """Every value a key can hold gets a message from its own check, never a crash (E023)."""
    for value in WEIRD_VALUES:
        settings.BYO_SESSIONS = {key: value}
        messages = check_settings()
        assert all(isinstance(m, CheckMessage) for m in messages)
        assert "byo_sessions.E023" not in {m.id for m in messages}, (value, messages)


@pytest.mark.parametrize(
    "value,expected",
    [
        ("x", ["byo_sessions.E001"]),
        ([("ALLOW_BEARER", False)], ["byo_sessions.E001"]),
        (5, ["byo_sessions.E001"]),
        ({1: 2, "NO_SUCH_KEY": 3}, ["byo_sessions.E002"]),
    ],
)
def test_odd_byo_sessions_values(settings, value, expected):
    assert ids(settings, value) == expected


def test_default_policy_of_the_wrong_type_names_the_key(settings):
    settings.BYO_SESSIONS = {"DEFAULT_POLICY": "x"}
    (error,) = check_settings()
    assert error.id == "byo_sessions.E022" and "BYO_SESSIONS['DEFAULT_POLICY']" in error.msg


def test_a_crashing_check_becomes_an_error_naming_its_keys(settings, monkeypatch):
    from byo_sessions.services import policies

    def crash() -> None:
        raise AttributeError("'str' object has no attribute 'items'")

    monkeypatch.setattr(policies, "settings_policy_set", crash)
    settings.BYO_SESSIONS = {}
    (error,) = check_settings()
    assert error.id == "byo_sessions.E023" and isinstance(error, Error)
    assert "BYO_SESSIONS['DEFAULT_POLICY']" in error.msg and "AttributeError" in error.msg


# --- W002: the session cookie in error reports ------------------------------------------------
# (A project filter that shows the cookie, and the leak W002 warns about: tests/test_error_reports.py.)


@given(name=st.text(min_size=1, max_size=40))
@hsettings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_django_filter_gives_no_w002_for_any_session_cookie_name(fresh_filter, name):
    """Django's SafeExceptionReporterFilter hides SESSION_COOKIE_NAME by name, whatever it is."""
    with override_settings(SESSION_COOKIE_NAME=name, BYO_SESSIONS={}):
        assert [m for m in check_settings() if m.id == "byo_sessions.W002"] == []


# --- Engine and middlewares (check_integration) -------------------------------------------


def integration(settings, middleware, engine=ENGINE):
    settings.MIDDLEWARE = middleware
    settings.SESSION_ENGINE = engine
    return check_integration()


@pytest.mark.parametrize(
    "middleware,expected",
    [
        ([OURS, OUR_AUTH], []),  # the README's pair
        (
            [
                "django.middleware.security.SecurityMiddleware",
                OURS,
                "django.middleware.csrf.CsrfViewMiddleware",
                OUR_AUTH,
                LOGIN_REQUIRED,
            ],
            [],
        ),
        ([OURS], []),  # no authentication middleware at all: a session-only site
        ([OUR_AUTH, OURS], ["byo_sessions.E024"]),
        ([OURS, DJANGO_AUTH], ["byo_sessions.W004"]),
        ([DJANGO_AUTH, OURS], ["byo_sessions.E024"]),  # Django's needs request.session too
        ([DJANGO_SESSIONS, DJANGO_AUTH], ["byo_sessions.E026"]),
        ([DJANGO_AUTH], ["byo_sessions.E026"]),
        ([], ["byo_sessions.E026"]),
        ([DJANGO_SESSIONS, OURS, OUR_AUTH], ["byo_sessions.E028"]),
        ([OURS, DJANGO_SESSIONS, OUR_AUTH], ["byo_sessions.E028"]),
        ([DJANGO_SESSIONS, OURS, DJANGO_AUTH], ["byo_sessions.E028", "byo_sessions.W004"]),
        ([DJANGO_SESSIONS, DJANGO_AUTH, OURS], ["byo_sessions.E028", "byo_sessions.E024"]),
    ],
)
def test_integration_with_our_engine(settings, middleware, expected):
    assert [m.id for m in integration(settings, middleware)] == expected


@pytest.mark.parametrize(
    "engine,middleware,expected",
    [
        ("django.contrib.sessions.backends.db", [DJANGO_SESSIONS, DJANGO_AUTH], []),  # not ours: not our business
        ("django.contrib.sessions.backends.signed_cookies", [DJANGO_SESSIONS, DJANGO_AUTH], []),
        ("django.contrib.sessions.backends.db", [OURS, OUR_AUTH], ["byo_sessions.E027"]),
        ("django.contrib.sessions.backends.cache", [OURS, OUR_AUTH], ["byo_sessions.E027"]),
        (
            "django.contrib.sessions.backends.db",
            [DJANGO_SESSIONS, OURS, OUR_AUTH],
            ["byo_sessions.E027", "byo_sessions.E028"],
        ),
    ],
)
def test_integration_with_another_engine(settings, engine, middleware, expected):
    assert [m.id for m in integration(settings, middleware, engine)] == expected


@pytest.mark.parametrize("auth", [OUR_AUTH, DJANGO_AUTH])
def test_e024_says_where_our_authentication_middleware_goes(settings, auth):
    (error,) = integration(settings, [auth, OURS])
    assert isinstance(error, Error) and f"{auth!r} comes before {OURS!r}" in error.msg
    assert f"Put {OUR_AUTH!r} after {OURS!r}" in error.hint


def test_e026_names_django_session_middleware_when_it_is_there_instead(settings):
    (error,) = integration(settings, [DJANGO_SESSIONS, DJANGO_AUTH])
    assert isinstance(error, Error) and DJANGO_SESSIONS in error.msg and "Bearer tokens ignored" in error.msg
    assert OURS in error.hint
    (error,) = integration(settings, [DJANGO_AUTH])
    assert DJANGO_SESSIONS not in error.msg and error.msg.endswith(f"{OURS!r}.")


def test_e027_names_the_engine(settings):
    (error,) = integration(settings, [OURS, OUR_AUTH], "django.contrib.sessions.backends.db")
    assert isinstance(error, Error) and "'django.contrib.sessions.backends.db'" in error.msg
    assert ENGINE in error.hint


def test_e028_says_which_to_remove(settings):
    (error,) = integration(settings, [DJANGO_SESSIONS, OURS, OUR_AUTH])
    assert isinstance(error, Error) and error.hint == f"Remove {DJANGO_SESSIONS!r}."


def test_w004_is_a_warning_naming_ours(settings):
    (warning,) = integration(settings, [OURS, DJANGO_AUTH])
    assert isinstance(warning, Warning) and not isinstance(warning, Error)
    assert DJANGO_AUTH in warning.msg and OUR_AUTH in warning.hint


@pytest.mark.django_db
@pytest.mark.parametrize(
    "middleware,user_queries,bearer_status",
    [
        ([OURS, OUR_AUTH], 0, 200),  # the user comes with the session row
        ([OURS, DJANGO_AUTH], 1, 200),  # W004: works, one more query for the user
        ([DJANGO_SESSIONS, DJANGO_AUTH], 1, 302),  # E026: a Bearer token is ignored
        ([OURS, DJANGO_SESSIONS, OUR_AUTH], 0, 302),  # E028: Django's store replaced ours
    ],
)
def test_what_the_integration_checks_guard_against(settings, client, user, middleware, user_queries, bearer_status):
    settings.MIDDLEWARE = middleware
    assert client.login(username="alice", password="pw-alice-123")
    token = client.cookies[settings.SESSION_COOKIE_NAME].value
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/django-protected/").status_code == 200  # the cookie works in every case
    assert sum('FROM "auth_user"' in q["sql"] for q in queries.captured_queries) == user_queries
    del client.cookies[settings.SESSION_COOKIE_NAME]
    assert client.get("/django-protected/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == bearer_status


@pytest.mark.django_db
@pytest.mark.parametrize("auth", [OUR_AUTH, DJANGO_AUTH])
def test_what_e024_guards_against(settings, client, auth):
    settings.MIDDLEWARE = [auth, OURS]
    with pytest.raises(ImproperlyConfigured):  # every request fails
        client.get("/whoami/")


# --- Deploy checks (W010, W013) -----------------------------------------------------------


@pytest.mark.django_db
def test_deploy_warnings_only_in_deploy_checks(settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.SESSION_COOKIE_HTTPONLY = False
    assert not {"byo_sessions.W010", "byo_sessions.W013"} & {m.id for m in run_checks()}
    found = {m.id for m in run_checks(include_deployment_checks=True)}
    assert {"byo_sessions.W010", "byo_sessions.W013"} <= found
    assert not {"security.W010", "security.W013"} & found  # Django's look for django.contrib.sessions only


@pytest.mark.parametrize(
    "secure,httponly,expected",
    [
        (False, True, ["byo_sessions.W010"]),
        (True, False, ["byo_sessions.W013"]),
        (False, False, ["byo_sessions.W010", "byo_sessions.W013"]),
        (True, True, []),
    ],
)
def test_deploy_checks_of_the_session_cookie(settings, secure, httponly, expected):
    settings.SESSION_COOKIE_SECURE = secure
    settings.SESSION_COOKIE_HTTPONLY = httponly
    messages = check_deploy()
    assert [m.id for m in messages] == expected
    assert all(isinstance(m, Warning) for m in messages)


@pytest.mark.parametrize(
    "engine", ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.signed_cookies"]
)
def test_deploy_checks_only_for_our_engine(settings, engine):
    settings.SESSION_ENGINE = engine
    settings.SESSION_COOKIE_SECURE = False
    settings.SESSION_COOKIE_HTTPONLY = False
    assert check_deploy() == []


# --- The README's setup -----------------------------------------------------------------------

SETUP_IDS = {"admin.E408", "admin.E410", "auth.E013"}


def setup_complaints(messages: list[CheckMessage]) -> list[CheckMessage]:
    """What the README's setup must never get: any message of ours, or the admin's and
    auth's middleware errors (they accept subclasses of Django's middlewares)."""
    return [m for m in messages if (m.id.startswith("byo_sessions.") or m.id in SETUP_IDS) and m.level >= Warning.level]


@pytest.mark.django_db  # model checks ask the database's features (JSONField)
def test_readme_setup_passes_every_check_with_nothing_silenced(settings):
    assert not settings.SILENCED_SYSTEM_CHECKS
    assert settings.SESSION_ENGINE == ENGINE and OURS in settings.MIDDLEWARE and OUR_AUTH in settings.MIDDLEWARE
    assert "django.contrib.admin" in settings.INSTALLED_APPS
    assert setup_complaints(run_checks()) == []


@pytest.mark.django_db
def test_readme_setup_with_login_required_middleware_passes(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, LOGIN_REQUIRED]
    assert setup_complaints(run_checks()) == []


@pytest.mark.django_db
def test_readme_setup_passes_the_deploy_checks_with_a_secure_cookie(settings):
    assert not settings.SILENCED_SYSTEM_CHECKS
    settings.SESSION_COOKIE_SECURE = True
    settings.SESSION_COOKIE_HTTPONLY = True
    messages = run_checks(include_deployment_checks=True)
    assert setup_complaints(messages) == []
    assert not {f"security.W0{n}" for n in range(10, 16)} & {m.id for m in messages}


@pytest.mark.django_db
def test_a_misconfigured_setup_fails_run_checks(settings):
    """check_integration is registered: a Django session middleware left in place is reported."""
    settings.MIDDLEWARE = [DJANGO_SESSIONS, DJANGO_AUTH]
    assert "byo_sessions.E026" in {m.id for m in run_checks()}


@pytest.mark.parametrize(
    "settings_value,error_id",
    [
        ({"REAUTH_MAX_AGE_SECS": 0}, "byo_sessions.E003"),
        ({"REAUTH_MAX_AGE_SECS": "300"}, "byo_sessions.E003"),
        ({"REAUTH_MAX_FAILURES": 0}, "byo_sessions.E003"),
        ({"REAUTH_URL": ""}, "byo_sessions.E033"),
        ({"REAUTH_URL": None}, "byo_sessions.E033"),
        ({"REAUTH_URL": "no-such-url-name"}, "byo_sessions.W006"),
    ],
)
def test_reauthentication_settings_checks(settings, settings_value, error_id):
    settings.BYO_SESSIONS = settings_value
    assert {e.id for e in check_settings()} == {error_id}


@pytest.mark.parametrize("value", ["byo_sessions:reauthenticate", "/confirm/", "https://id.example.com/confirm"])
def test_a_reauth_url_that_resolves_or_is_a_path_passes(settings, value):
    settings.BYO_SESSIONS = {"REAUTH_URL": value}
    assert check_settings() == []


LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


@pytest.mark.parametrize(
    "value, caches, expected",
    [
        ({"STATELESS_REVOCATION_CACHE": "default"}, {"default": LOCMEM}, []),
        ({"STATELESS_REVOCATION_CACHE": "default", "STATELESS_REVOCATION_CHECK": True}, {"default": LOCMEM}, []),
        ({"STATELESS_REVOCATION_CHECK": True}, {"default": LOCMEM}, ["byo_sessions.E041"]),
        ({"STATELESS_REVOCATION_CACHE": "missing"}, {"default": LOCMEM}, ["byo_sessions.E040"]),
        ({"STATELESS_REVOCATION_CACHE": 3}, {"default": LOCMEM}, ["byo_sessions.E040"]),
        (
            {"STATELESS_REVOCATION_CACHE": "default"},
            {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}},
            ["byo_sessions.E042"],
        ),
        ({"STATELESS_REVOCATION_CHECK": "yes"}, {"default": LOCMEM}, ["byo_sessions.E017"]),
        ({"STATELESS_REVOCATION_FAIL_OPEN": 1}, {"default": LOCMEM}, ["byo_sessions.E017"]),
        ({"SLIDING_ABSOLUTE_LIFETIME_SECS": 0}, {"default": LOCMEM}, ["byo_sessions.E004"]),
        ({"SLIDING_ABSOLUTE_LIFETIME_SECS": "3600"}, {"default": LOCMEM}, ["byo_sessions.E004"]),
        ({"SLIDING_ABSOLUTE_LIFETIME_SECS": 3600}, {"default": LOCMEM}, []),
    ],
)
def test_revocation_and_sliding_settings(settings, value, caches, expected):
    settings.CACHES = caches
    assert ids(settings, value) == expected


def test_a_local_memory_revocation_cache_is_a_deploy_warning(settings):
    settings.CACHES = {"default": LOCMEM}
    settings.BYO_SESSIONS = {"STATELESS_REVOCATION_CACHE": "default"}
    assert "byo_sessions.W040" in {m.id for m in check_deploy()}
    assert "byo_sessions.W040" not in {m.id for m in check_settings()}
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379"}
    }
    assert "byo_sessions.W040" not in {m.id for m in check_deploy()}
