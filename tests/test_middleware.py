"""The HTTP edge: middleware, cookie and Bearer transports, login/logout, decorators."""
from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from byo_sessions import is_ok, sessions
from byo_sessions.conf import byo_settings
from byo_sessions.models import AuditEvent, Session

pytestmark = pytest.mark.django_db

COOKIE = "session_token"  # SESSION_COOKIE_NAME in tests/settings.py


@pytest.fixture(autouse=True)
def plain_cookie(settings):
    settings.BYO_SESSIONS = {}


def login(client: Client, username: str = "alice") -> str:
    response = client.post("/login/", {"username": username})
    assert response.status_code == 200, response.content
    return response.cookies[COOKIE].value


def test_login_sets_a_hardened_cookie(client, user):
    response = client.post("/login/", {"username": "alice"})
    morsel = response.cookies[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) == byo_settings.ABSOLUTE_LIFETIME_SECS
    assert Session.objects.get().token_hash != morsel.value


def test_cookie_follows_djangos_session_cookie_settings(client, user, settings):
    """The cookie is Django's: SESSION_COOKIE_* and SESSION_EXPIRE_AT_BROWSER_CLOSE apply."""
    settings.SESSION_COOKIE_NAME = "__Host-session_token"
    settings.SESSION_COOKIE_SECURE = True
    settings.SESSION_COOKIE_SAMESITE = "Strict"
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    response = client.post("/login/", {"username": "alice"})
    morsel = response.cookies["__Host-session_token"]
    assert morsel["secure"] is True and morsel["path"] == "/" and not morsel["domain"]
    assert morsel["httponly"] is True and morsel["samesite"] == "Strict" and morsel["max-age"] == ""
    assert COOKIE not in response.cookies
    assert client.get("/whoami/").json()["user"] == "alice"


def test_authenticated_request_costs_one_query_and_no_write(client, user, django_assert_num_queries):
    login(client)
    client.get("/whoami/")  # warm the policy cache
    with django_assert_num_queries(1) as ctx:
        body = client.get("/protected/").json()
    assert body["user"] == "alice"
    assert "UPDATE" not in ctx.captured_queries[0]["sql"].upper()


def test_anonymous_request_costs_no_query(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/whoami/").json() == {"user": None, "session_id": None, "error": None}


def test_login_ends_the_presented_session_no_fixation(client, user):
    first = login(client)
    second = login(client)
    assert first != second
    other = Client()
    other.cookies[COOKIE] = first
    assert other.get("/whoami/").json()["error"] == "SessionInvalidated"
    reasons = list(Session.objects.order_by("created_at").values_list("end_reason", flat=True))
    assert reasons == ["login_replaced", ""]


def test_planted_token_is_replaced_at_login(client, user, other_user):
    planted = sessions.create(user_id=other_user.pk).data.session_token
    client.cookies[COOKIE] = planted
    fresh = login(client)
    assert fresh != planted
    assert sessions.validate(session_token=planted).error.type == "SessionInvalidated"


def test_logout_clears_cookie_and_ends_session(client, user):
    token = login(client)
    response = client.get("/logout/")
    assert response.cookies[COOKIE].value == "" and response.cookies[COOKIE]["max-age"] == 0
    assert sessions.validate(session_token=token).error.details["reason"] == "logout"
    assert client.get("/whoami/").json()["user"] is None


def test_dead_cookie_is_cleared(client, user):
    token = login(client)
    sessions.invalidate_by_token(session_token=token)
    response = client.get("/whoami/")
    assert response.json()["error"] == "SessionInvalidated"
    assert response.cookies[COOKIE].value == ""


def test_bearer_transport(user):
    token = sessions.create(user_id=user.pk).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/protected/").json()["user"] == "alice"


def test_bearer_requests_are_csrf_exempt_but_cookie_requests_are_not(user):
    token = sessions.create(user_id=user.pk).data.session_token
    bearer = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bearer.post("/post-echo/").status_code == 200
    browser = Client(enforce_csrf_checks=True)
    browser.cookies[COOKIE] = token
    assert browser.post("/post-echo/").status_code == 403


@pytest.mark.parametrize("token", ["", "garbage", "x" * 8000, "byo_s_" + "é" * 43, "Bearer", "byo_s_" + "A" * 43,
                                   "byo_s_" + "\u202e" * 43])
def test_garbage_bearer_tokens_get_typed_401(user, token):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="application/json")
    response = api.get("/protected/")
    assert response.status_code == 401
    assert response.json()["type"] == "InvalidSessionToken"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["garbage", "byo_s_" + "A" * 43, "%00%ff", "a" * 4000])
def test_garbage_cookies_redirect_pages_and_401_json(client, db, token):
    client.cookies[COOKIE] = token
    page = client.get("/protected/")
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/?next=/protected/")
    api = client.get("/protected/", HTTP_ACCEPT="application/json")
    assert api.status_code == 401 and api.json()["type"] == "InvalidSessionToken"


def test_expired_session_says_so_in_json(client, user, clock, settings):
    settings.BYO_SESSIONS = {"ABSOLUTE_LIFETIME_SECS": 60, "INACTIVITY_TIMEOUT_SECS": None}
    login(client)
    clock.advance(61)
    response = client.get("/protected/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response.json()["type"] == "SessionExpired"
    assert response.json()["details"]["reason"] == "expired_absolute"


def test_django_login_required_works(client, user):
    assert client.get("/django-protected/").status_code == 302
    login(client)
    assert client.get("/django-protected/").json() == {"user": "alice"}


def test_async_views(async_client, user):
    from asgiref.sync import async_to_sync

    token = sessions.create(user_id=user.pk).data.session_token

    async def run():
        async_client.cookies[COOKIE] = token
        ok = await async_client.get("/async-protected/")
        who = await async_client.get("/async-whoami/")
        async_client.cookies[COOKIE] = "garbage"
        refused = await async_client.get("/async-protected/", headers={"accept": "application/json"})
        return ok, who, refused

    ok, who, refused = async_to_sync(run)()
    assert ok.status_code == 200 and ok.json()["user"] == "alice"
    assert who.json() == {"user": "alice"}
    assert refused.status_code == 401 and refused.json()["type"] == "InvalidSessionToken"


def test_deactivated_user_is_logged_out_on_next_request(client, user):
    login(client)
    user.is_active = False
    user.save()
    response = client.get("/protected/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401 and response.json()["type"] == "UserInactive"


def test_admin_login_and_logout_go_through_byo_sessions(client, django_user_model):
    django_user_model.objects.create_superuser(username="root", password="pw-root-123", email="r@example.com")
    page = client.get("/admin/login/")
    assert page.status_code == 200
    response = client.post("/admin/login/", {"username": "root", "password": "pw-root-123"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/byo_sessions/session/").status_code == 200
    session = Session.objects.get()
    detail = client.get(f"/admin/byo_sessions/session/{session.pk}/change/")
    assert detail.status_code == 200 and b"session_created" in detail.content
    assert session.token_hash.encode() not in detail.content
    client.post("/admin/logout/")
    assert client.get("/admin/").status_code == 302


def test_admin_refuses_non_staff(client, user):
    response = client.post("/admin/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 200 and Session.objects.count() == 0


def test_admin_bulk_end_action(admin_client, user):
    client = admin_client
    targets = [sessions.create(user_id=user.pk).data for _ in range(3)]
    response = client.post("/admin/byo_sessions/session/", {
        "action": "end_selected", "_selected_action": [t.session_id for t in targets]})
    assert response.status_code == 302
    for t in targets:
        assert sessions.validate(session_token=t.session_token).error.details["reason"] == "admin"
    assert AuditEvent.objects.filter(actor="admin:admin", event_type="session_invalidated").count() == 3
    assert is_ok(sessions.validate(session_token=client.cookies[COOKIE].value))  # the admin's own session lives


def test_admin_overview_counts_sessions_by_state(admin_client, user, clock):
    client = admin_client
    ended = sessions.create(user_id=user.pk).data
    sessions.invalidate_by_id(session_id=ended.session_id, reason="admin")
    sessions.create(user_id=user.pk)
    page = client.get("/admin/byo_sessions/session/").content.decode()
    overview = page[page.index('id="byo-overview"'):page.index("</table>", page.index('id="byo-overview"'))]
    assert "<th>Active</th><td>2</td>" in overview  # alice's live session and root's own
    assert "Ended: Ended by an admin" in overview


def test_a_refused_login_leaves_the_current_session_alone(client, user):
    token = login(client)
    response = client.post("/login/", {"username": "alice", "tag": "bad tag"})
    assert response.status_code == 400 and response.json()["type"] == "InvalidTagFormat"
    assert is_ok(sessions.validate(session_token=token))
    assert client.get("/whoami/").json()["user"] == "alice"


def test_relogin_is_not_blocked_by_the_session_it_replaces(client, user):
    from byo_sessions.models import TagPolicy

    TagPolicy.objects.create(selector="org:*", max_concurrent_sessions_per_user=1,
                             on_session_limit_exceeded="reject_new")
    first = client.post("/login/", {"username": "alice", "tag": "org:acme"}).cookies[COOKIE].value
    second = client.post("/login/", {"username": "alice", "tag": "org:acme"})
    assert second.status_code == 200
    assert sessions.validate(session_token=first).error.details["reason"] == "login_replaced"


def test_cookie_max_age_follows_the_absolute_expiry_after_rotation(client, user, clock, settings):
    settings.BYO_SESSIONS = {"ABSOLUTE_LIFETIME_SECS": 86400,
                             "INACTIVITY_TIMEOUT_SECS": 1800, "ROTATION_INTERVAL_SECS": 600}
    login(client)
    clock.advance(600)
    response = client.get("/whoami/")
    assert int(response.cookies[COOKIE]["max-age"]) == 86400 - 600


def test_session_ended_by_an_ip_change_clears_the_cookie(client, user):
    from byo_sessions.models import TagPolicy

    TagPolicy.objects.create(selector="org:*", on_ip_address_change="invalidate")
    client.post("/login/", {"username": "alice", "tag": "org:acme"})
    response = client.get("/whoami/", REMOTE_ADDR="192.0.2.200")
    assert response.json()["error"] == "IpAddressChanged"
    assert response.cookies[COOKIE].value == ""


def test_database_outage_is_a_typed_503_not_a_500(client, user, monkeypatch):
    from django.db import OperationalError

    from byo_sessions import selectors

    login(client)

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "session_by_token_hash", down)
    response = client.get("/protected/", HTTP_ACCEPT="application/json")
    assert response.status_code == 503 and response.json()["type"] == "UnexpectedError"
    assert COOKIE not in response.cookies  # the cookie is kept for when the database is back


def test_session_exempt_views_validate_nothing(user, django_assert_num_queries):
    token = sessions.create(user_id=user.pk).data.session_token
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    with django_assert_num_queries(0):
        assert api.get("/exempt/").json() == {"user": None, "session": False}


def test_admin_session_list_shows_the_browser(admin_client, user):
    client = admin_client
    sessions.create(user_id=user.pk, user_agent=(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"))
    assert "Chrome 131 on macOS" in client.get("/admin/byo_sessions/session/").content.decode()


def test_admin_overview_links_the_last_days_security_events(admin_client, user, clock):
    client = admin_client
    old = sessions.create(user_id=user.pk).data
    sessions.invalidate_by_token(session_token=old.session_token)
    sessions.validate(session_token=old.session_token)  # a refusal two days before the page: not counted
    clock.advance(2 * 86400)  # the next refusal is the only one inside the last day
    sessions.validate(session_token=old.session_token)
    sessions.validate(session_token=old.session_token, ip_address="203.0.113.9")  # throttled: a log line, no row
    page = client.get("/admin/byo_sessions/session/").content.decode()
    recent = page[page.index('id="byo-recent"'):page.index("</table>", page.index('id="byo-recent"'))]
    link = re.search(r'<th>Validation failed</th><td><a href="([^"]+)">1</a>', recent)
    assert link, recent
    assert "<th>Token reuse (theft) detected</th><td>0</td>" in recent
    listed = client.get(html.unescape(link.group(1))).content.decode()
    assert listed.count('class="field-event_type"') == 1  # the link opens exactly that row
    assert AuditEvent.objects.filter(event_type="validation_failed").count() == 2


def test_admin_overview_hides_event_counts_from_staff_who_cannot_see_the_audit_log(client, django_user_model, clock):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user(username="viewer", password="pw-viewer-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_session"))
    client.post("/admin/login/", {"username": "viewer", "password": "pw-viewer-123"})
    page = client.get("/admin/byo_sessions/session/").content.decode()
    assert 'id="byo-overview"' in page and 'id="byo-recent"' not in page
