"""Raw session tokens stay out of Django's error reports (500 emails, logs, the DEBUG page).

Reports list request cookies and headers, masking only the names the exception reporter
filter hides; Django's filter always hides SESSION_COOKIE_NAME, and check W002 says when a
project's own filter does not.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import path
from django.views.debug import (
    ExceptionReporter,
    SafeExceptionReporterFilter,
    get_default_exception_reporter_filter,
)

from byo_sessions import sessions
from byo_sessions.checks import check_settings
from byo_sessions.conf import byo_settings
from byo_sessions.http import presented_token

pytestmark = pytest.mark.django_db


def boom(request: HttpRequest) -> HttpResponse:
    assert request.user.is_authenticated  # the session is validated before the failure, as in a real view
    raise RuntimeError("boom")


urlpatterns = [path("boom/", boom)]


class ShowsEveryCookie(SafeExceptionReporterFilter):
    """A project filter that masks by the usual words only, not Django's session cookie."""

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        if isinstance(key, str) and self.hidden_settings.search(key):
            return self.cleansed_substitute
        return value


@pytest.fixture(autouse=True)
def boom_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def fresh_filter() -> Iterator[None]:
    """Django caches the filter instance; drop it around a test that swaps the class."""
    get_default_exception_reporter_filter.cache_clear()
    yield
    get_default_exception_reporter_filter.cache_clear()


def warning_ids() -> list[str]:
    return sorted(m.id for m in check_settings() if m.id == "byo_sessions.W002")


def error_report(cookie_token: str, bearer_token: str) -> tuple[str, str]:
    """Text and HTML reports of a crash on a request carrying both transports (two different
    tokens: a request refused as ``conflicting_tokens``)."""
    caught: dict[str, Any] = {}

    def keep(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
        caught.update(request=request, exc_info=sys.exc_info())

    got_request_exception.connect(keep)
    try:
        client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {bearer_token}")
        client.cookies[byo_settings.cookie_name] = cookie_token
        assert client.get("/boom/").status_code == 500
    finally:
        got_request_exception.disconnect(keep)
    reporter = ExceptionReporter(caught["request"], *caught["exc_info"])
    return reporter.get_traceback_text(), reporter.get_traceback_html()


def two_tokens(user: Any) -> tuple[str, str]:
    return (sessions.create(user_id=user.pk).data.session_token, sessions.create(user_id=user.pk).data.session_token)


@pytest.mark.parametrize("debug", [False, True])
def test_error_reports_hide_cookie_and_bearer_tokens(settings, user, debug):
    settings.DEBUG = debug
    settings.BYO_SESSIONS = {}
    cookie_token = bearer_token = sessions.create(user_id=user.pk).data.session_token  # the same: accepted
    text, html = error_report(cookie_token, bearer_token)
    for report in (text, html):
        assert "RuntimeError" in report
        assert cookie_token not in report and bearer_token not in report
    masked = SafeExceptionReporterFilter.cleansed_substitute
    assert f"{byo_settings.cookie_name} = '{masked}'" in text  # the cookie was listed, masked
    assert warning_ids() == []


@pytest.mark.parametrize("name", ["sessionid", "sid", "session_token", "__Host-sid"])
def test_django_filter_hides_whatever_session_cookie_name(settings, name):
    """Django's filter masks SESSION_COOKIE_NAME by name, whatever it is: no warning."""
    settings.SESSION_COOKIE_NAME = name
    assert warning_ids() == []


def test_a_project_filter_that_shows_the_cookie_leaks_and_the_check_warns(settings, user, fresh_filter):
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = f"{__name__}.ShowsEveryCookie"
    settings.SESSION_COOKIE_NAME = "sessionid"
    cookie_token, bearer_token = two_tokens(user)
    text, html = error_report(cookie_token, bearer_token)
    assert cookie_token in text and cookie_token in html  # what W002 warns about
    (warning,) = [m for m in check_settings() if m.id == "byo_sessions.W002"]
    assert "'sessionid'" in warning.msg and "SESSION_COOKIE_NAME" in warning.hint


def test_warning_asks_the_project_filter(settings, fresh_filter):
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = f"{__name__}.ShowsEveryCookie"
    settings.SESSION_COOKIE_NAME = "my_sid"
    assert warning_ids() == ["byo_sessions.W002"]
    settings.SESSION_COOKIE_NAME = "my_token"  # the filter still hides names holding TOKEN
    assert warning_ids() == []


def test_presented_token_repr_hides_the_value(settings):
    settings.BYO_SESSIONS = {}
    token = "byo_s_" + "A" * 43
    request = RequestFactory(HTTP_AUTHORIZATION=f"Bearer {token}").get("/")
    presented = presented_token(request)
    assert presented is not None and presented.value == token
    assert token not in repr(presented) and "bearer" in repr(presented)


def test_a_crash_inside_validation_keeps_the_token_out_of_frame_variables(settings, user, monkeypatch):
    """Production reports (500 emails, DEBUG off) list every frame's local variables; the
    functions that hold raw tokens are marked ``sensitive_variables``. (With DEBUG on,
    Django shows all variables by design.)"""
    settings.DEBUG = False
    settings.BYO_SESSIONS = {}
    token = sessions.create(user_id=user.pk).data.session_token

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("crash inside validation")

    monkeypatch.setattr("byo_sessions.services.sessions.check_session", crash)
    text, html = error_report(token, token)
    for report in (text, html):
        assert "crash inside validation" in report
        at = report.find(token)
        assert at == -1, report[max(0, at - 600) : at + 80]


def test_a_crash_refusing_conflicting_tokens_keeps_both_out_of_frame_variables(settings, user, monkeypatch):
    """A cookie and a different Bearer token: the refusal holds both raw tokens."""
    settings.DEBUG = False
    settings.BYO_SESSIONS = {}
    cookie_token, bearer_token = two_tokens(user)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("crash inside validation")

    monkeypatch.setattr("byo_sessions.services.sessions._fail_repeatable", crash)
    text, html = error_report(cookie_token, bearer_token)
    for report in (text, html):
        assert "crash inside validation" in report
        for token in (cookie_token, bearer_token):
            at = report.find(token)
            assert at == -1, report[max(0, at - 600) : at + 80]
