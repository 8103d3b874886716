"""The end-user account pages (byo_sessions.account) through the example site's URLs and
the real middleware: the sessions list, ending sessions, why a browser was signed out, and
the way past a session limit. The browser test is tests/e2e/test_account_pages.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from byo_sessions import http, is_err, is_ok, sessions
from byo_sessions.models import AuditEvent, EndReason, Session, TagPolicy
from byo_sessions.services import geo
from byo_sessions.templatetags.byo_account import ago, place
from byo_sessions.values import Location
from tests.constants import CHROME_LINUX, CHROME_MAC
from tests.services.test_geo import written_databases as geo_databases

pytestmark = [pytest.mark.django_db, pytest.mark.urls("example_project.urls")]

COOKIE = "demo_token"
PASSWORD = "pw-alice-123"
BERLIN, PARIS = "198.51.100.10", "192.0.2.10"


@pytest.fixture(autouse=True)
def demo_settings(settings):
    settings.SESSION_COOKIE_NAME = COOKIE
    settings.LOGIN_URL = "/login/"  # the example site's
    settings.BYO_SESSIONS = {"ADAPTER": "example_project.demo.adapter.DemoAdapter"}
    settings.GEOIP_PATH = str(geo_databases())
    yield
    geo.forget_cached()


@pytest.fixture
def alice(django_user_model) -> Any:
    return django_user_model.objects.create_user(username="alice", password=PASSWORD)


def browser(client: Client, token: str, ua: str = CHROME_MAC, ip: str = BERLIN) -> Client:
    client.cookies[COOKIE] = token
    client.defaults.update(HTTP_USER_AGENT=ua, REMOTE_ADDR=ip)
    return client


def start(user: Any, ua: str, ip: str) -> str:
    return sessions.create(user_id=user.pk, ip_address=ip, user_agent=ua).data.session_token


def test_current_session_first_with_location_and_relative_times(client, alice, clock):
    start(alice, CHROME_LINUX, PARIS)
    clock.advance(3600)
    mine = start(alice, CHROME_MAC, BERLIN)
    clock.advance(120)
    ended = start(alice, CHROME_LINUX, BERLIN)
    sessions.invalidate_by_id(session_id=Session.objects.order_by("-created_at").first().pk, reason=EndReason.ADMIN)
    page = browser(client, mine).get("/account/sessions/")
    assert page.status_code == 200
    html = page.content.decode().replace("\xa0", " ")
    rows = page.context["rows"]
    assert [r.is_current for r in rows] == [True, False]  # this device first, though not the newest
    assert rows[0].info.device.display_name == "Chrome 131 on macOS"
    assert "This device" in html and "Active now" in html
    assert "Berlin, Germany" in html and "Paris, France" in html and "Berlin Telecom" in html
    assert "Last active 1 hour ago" in html and "signed in 1 hour ago" in html
    assert [s.end_reason for s in page.context["ended"]] == [EndReason.ADMIN]
    assert "An administrator ended it." in html
    assert "Sign out the other session…" in html
    assert ended


def test_device_bound_badge(client, alice, clock):
    from tests.dpop_signer import TestDevice
    from tests.services.test_devices import login as device_login

    token = device_login(alice, TestDevice(), clock, ip=BERLIN).data.session_token
    html = browser(client, token, ua=CHROME_LINUX).get("/account/sessions/").content.decode().replace("\xa0", " ")
    assert "Device-bound" in html


def test_end_others_asks_first_then_ends_them(client, alice):
    mine, other = start(alice, CHROME_MAC, BERLIN), start(alice, CHROME_LINUX, PARIS)
    c = browser(client, mine)
    confirm = c.get("/account/sessions/end-others/")
    assert confirm.status_code == 200 and "Sign out your other sessions?" in confirm.content.decode().replace(
        "\xa0", " "
    )
    assert [r.info.device.display_name for r in confirm.context["others"]] == ["Chrome 131 on Linux"]
    assert is_ok(sessions.validate(session_token=other))  # nothing ended by looking
    done = c.post("/account/sessions/end-others/", follow=True)
    assert "Signed out 1 other session." in done.content.decode().replace("\xa0", " ")
    assert is_err(sessions.validate(session_token=other)) and is_ok(sessions.validate(session_token=mine))
    assert "You ended it from another device." in done.content.decode().replace("\xa0", " ")


def test_end_one_other_session_and_this_one(client, alice):
    mine, _other = start(alice, CHROME_MAC, BERLIN), start(alice, CHROME_LINUX, PARIS)
    c = browser(client, mine)
    other_id = Session.objects.get(ip_address=PARIS).pk
    response = c.post(f"/account/sessions/{other_id}/end/")
    assert response.status_code == 302 and Session.objects.get(pk=other_id).end_reason == EndReason.USER
    assert AuditEvent.objects.filter(session_id=other_id, actor=f"user:{alice.pk}").exists()
    missing = c.post("/account/sessions/ses_nope/end/", follow=True)
    assert "That session was not found" in missing.content.decode().replace("\xa0", " ")
    mine_id = Session.objects.get(ip_address=BERLIN).pk
    out = c.post(f"/account/sessions/{mine_id}/end/")
    assert out.status_code == 302 and out["Location"] == "/login/"
    assert Session.objects.get(pk=mine_id).end_reason == EndReason.LOGOUT
    assert c.get("/account/sessions/").status_code == 302


def test_another_users_session_cannot_be_ended(client, alice, django_user_model):
    bob = django_user_model.objects.create_user(username="bob", password="x")
    bobs = start(bob, CHROME_MAC, BERLIN)
    bob_id = Session.objects.get(user=bob).pk
    c = browser(client, start(alice, CHROME_MAC, BERLIN))
    c.post(f"/account/sessions/{bob_id}/end/")
    assert is_ok(sessions.validate(session_token=bobs))
    assert c.get(f"/account/sessions/{bob_id}/end/").status_code == 405


@pytest.mark.parametrize(
    "end,words",
    [
        (
            lambda sid, user: sessions.invalidate_by_id(session_id=sid, reason=EndReason.USER),
            "this session was ended from another of your devices",
        ),
        (
            lambda sid, user: sessions.invalidate_by_id(session_id=sid, reason=EndReason.ADMIN, actor="admin:1"),
            "You were signed out by an administrator.",
        ),
        (
            lambda sid, user: TagPolicy.objects.create(selector="org:*", on_country_change="invalidate"),
            "your session moved to another country",
        ),
        (lambda sid, user: None, "Your session expired after a period of inactivity."),
    ],
)
def test_signed_out_browser_is_told_why(client, alice, clock, end, words):
    token = sessions.create(user_id=alice.pk, ip_address=BERLIN, user_agent=CHROME_MAC, tags=["org:acme"]).data
    end(token.session_id, alice)
    clock.advance(8 * 24 * 3600 if words.startswith("Your session expired") else 1)
    c = browser(client, token.session_token, ip=PARIS)
    refused = c.get("/account/sessions/")
    assert refused.status_code == 302 and refused["Location"].startswith("/login/")
    assert http.SIGNED_OUT_COOKIE in refused.cookies and refused.cookies[http.SIGNED_OUT_COOKIE]["httponly"]
    login_page = c.get(refused["Location"])
    assert words in login_page.content.decode().replace("\xa0", " ")
    assert login_page.cookies[http.SIGNED_OUT_COOKIE].value == ""  # told once
    assert words not in c.get("/login/").content.decode().replace("\xa0", " ")


def test_logout_and_unknown_tokens_leave_no_notice(client, alice):
    c = browser(client, "byo_s_" + "x" * 43)
    assert http.SIGNED_OUT_COOKIE not in c.get("/account/sessions/").cookies
    c.cookies.pop(COOKIE, None)
    c.post("/login/", {"username": "alice", "password": PASSWORD})
    response = c.post("/logout/")
    assert http.SIGNED_OUT_COOKIE not in response.cookies


def test_forged_notice_is_ignored(client):
    client.cookies[http.SIGNED_OUT_COOKIE] = "admin"  # unsigned
    assert "administrator" not in client.get("/login/").content.decode().replace("\xa0", " ")


def test_session_limit_refusal_offers_to_end_the_oldest(client, alice, clock):
    TagPolicy.objects.create(
        selector="role:*", max_concurrent_sessions_per_user=2, on_session_limit_exceeded="reject_new"
    )
    oldest = sessions.create(user_id=alice.pk, ip_address=PARIS, user_agent=CHROME_LINUX, tags=["role:user"]).data
    clock.advance(3600)
    newer = sessions.create(user_id=alice.pk, ip_address=BERLIN, user_agent=CHROME_MAC, tags=["role:user"]).data
    client.defaults.update(HTTP_USER_AGENT=CHROME_MAC, REMOTE_ADDR=BERLIN)
    refused = client.post("/login/", {"username": "alice", "password": PASSWORD})
    html = refused.content.decode().replace("\xa0", " ")
    assert refused.status_code == 200 and "as many devices as your account allows" in html
    assert 'name="end_oldest"' in html and "Chrome 131 on Linux, signed in 1 hour ago" in html
    assert "Paris, France" in html
    wrong = client.post("/login/", {"username": "alice", "password": "nope", "end_oldest": "1"})
    assert wrong.status_code == 200 and is_ok(sessions.validate(session_token=oldest.session_token))
    signed_in = client.post("/login/", {"username": "alice", "password": PASSWORD, "end_oldest": "1"})
    assert signed_in.status_code == 302
    assert is_err(sessions.validate(session_token=oldest.session_token))
    assert Session.objects.get(pk=oldest.session_id).end_reason == EndReason.SESSION_LIMIT
    assert is_ok(sessions.validate(session_token=newer.session_token))
    assert Session.objects.filter(user=alice, ended_at__isnull=True).count() == 2


def test_filters(clock):
    assert ago(clock.now()) == "just now"
    assert ago(clock.now() - timedelta(days=2, hours=3)).replace("\xa0", " ") == "2 days ago"
    assert place(Location(country="DE", city="Berlin")) == "Berlin, Germany"
    assert place(Location(country="FR")) == "France" and place(Location()) == ""


def test_per_tag_limit_ends_the_oldest_session_with_that_tag(client, alice, clock):
    TagPolicy.objects.create(
        selector="role:*", max_concurrent_sessions_per_user_per_tag=1, on_session_limit_exceeded="reject_new"
    )
    untagged = sessions.create(user_id=alice.pk, ip_address=PARIS, user_agent=CHROME_LINUX).data  # the oldest
    clock.advance(60)
    tagged = sessions.create(user_id=alice.pk, ip_address=BERLIN, user_agent=CHROME_MAC, tags=["role:member"]).data
    client.defaults.update(HTTP_USER_AGENT=CHROME_MAC, REMOTE_ADDR=BERLIN)
    refused = client.post("/login/", {"username": "alice", "password": PASSWORD})  # the demo tags role:member
    assert refused.context["session_limit_oldest"].session_id == tagged.session_id
    assert client.post("/login/", {"username": "alice", "password": PASSWORD, "end_oldest": "1"}).status_code == 302
    assert is_err(sessions.validate(session_token=tagged.session_token))
    assert is_ok(sessions.validate(session_token=untagged.session_token))


def test_theft_and_browser_change_notices_name_the_end_reason(client, alice, clock, settings):
    from byo_sessions.values import ErrorType, SessionError

    assert (
        http.ended_reason(SessionError(ErrorType.TOKEN_REUSE_DETECTED, {"reason": "retired_token"}))
        == EndReason.TOKEN_REUSE_DETECTED
    )
    assert (
        http.ended_reason(SessionError(ErrorType.USER_AGENT_CHANGED, {"reason": "os_changed"}))
        == EndReason.USER_AGENT_CHANGED
    )
    assert http.ended_reason(SessionError(ErrorType.IP_ADDRESS_NOT_ALLOWED, {"reason": "ip_in_blocklist"})) is None
    TagPolicy.objects.create(selector="org:*", on_user_agent_change="invalidate")
    token = sessions.create(user_id=alice.pk, ip_address=BERLIN, user_agent=CHROME_MAC, tags=["org:x"]).data
    c = browser(client, token.session_token, ua=CHROME_LINUX)  # another OS: suspicious
    refused = c.get("/account/sessions/")
    page = c.get(refused["Location"]).content.decode()
    assert "You were signed out by a security policy: your browser changed." in page
