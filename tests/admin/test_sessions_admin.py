"""The sessions admin (admin/__init__.py): Django's admin login on byo sessions, the
session list and detail, the bulk end action, the overview and its security-event counts."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.admin.utils import quote

from byo_sessions import is_ok, sessions
from byo_sessions.models import AuditEvent, Session
from tests.constants import CHROME_MAC, COOKIE
from tests.sql import query_plan

pytestmark = pytest.mark.django_db


def test_admin_login_and_logout_go_through_byo_sessions(client, django_user_model):
    django_user_model.objects.create_superuser(username="root", password="pw-root-123", email="r@example.com")
    page = client.get("/admin/login/")
    assert page.status_code == 200
    response = client.post("/admin/login/", {"username": "root", "password": "pw-root-123"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/byo_sessions/session/").status_code == 200
    session = Session.objects.get()
    detail = client.get(f"/admin/byo_sessions/session/{quote(session.pk)}/change/")
    assert detail.status_code == 200 and b"<td>Session created</td>" in detail.content  # titles, not codes
    assert session.token_hash.encode() not in detail.content
    client.post("/admin/logout/")
    assert client.get("/admin/").status_code == 302


def test_admin_refuses_non_staff(client, user):
    response = client.post("/admin/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 200 and Session.objects.count() == 0


def test_admin_bulk_end_action(admin_client, user):
    client = admin_client
    targets = [sessions.create(user_id=user.pk).data for _ in range(3)]
    response = client.post(
        "/admin/byo_sessions/session/", {"action": "end_selected", "_selected_action": [t.session_id for t in targets]}
    )
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
    overview = page[page.index('id="byo-overview"') : page.index("</table>", page.index('id="byo-overview"'))]
    assert "<th>Active</th><td>2</td>" in overview  # alice's live session and root's own
    assert "Ended: Ended by an admin" in overview


def test_admin_session_list_shows_the_browser(admin_client, user):
    client = admin_client
    sessions.create(user_id=user.pk, user_agent=CHROME_MAC)
    assert "Chrome 131 on macOS" in client.get("/admin/byo_sessions/session/").content.decode()


def test_admin_session_list_shows_short_ids_and_the_end_reason_in_words(admin_client, user):
    """Eight columns fit at 1280 px: the id cut to its prefix and random end (whole in the
    tooltip and the link; its start is the creation time, the same for sessions made in
    the same second), the state and, once ended, why in one column."""
    live = sessions.create(user_id=user.pk, user_agent=CHROME_MAC).data.session_id
    ended = sessions.create(user_id=user.pk, user_agent=CHROME_MAC).data.session_id
    assert is_ok(sessions.invalidate_by_id(session_id=ended, reason="admin"))
    page = admin_client.get("/admin/byo_sessions/session/").content.decode()
    for sid in (live, ended):
        assert f'<span title="{sid}">ses_\u2026{sid[-8:]}</span>' in page
        assert f'href="/admin/byo_sessions/session/{quote(sid)}/change/' in page
    rows = {sid: re.search(rf'title="{sid}".*?</tr>', page, re.S).group(0) for sid in (live, ended)}
    assert '<td class="field-status_and_reason">Active</td>' in rows[live]
    assert '<td class="field-status_and_reason">Ended: Ended by an admin</td>' in rows[ended]
    columns = re.findall(r'<th scope="col" class="[^"]*column-([a-z_]+)', page)
    assert columns == [
        "short_id",
        "owner",
        "client_display",
        "status_and_reason",
        "created_short",
        "active_short",
        "last_ip_address",
        "tags_display",
    ]


def test_admin_overview_links_the_last_days_security_events(admin_client, user, clock):
    client = admin_client
    old = sessions.create(user_id=user.pk).data
    sessions.invalidate_by_token(session_token=old.session_token)
    sessions.validate(session_token=old.session_token)  # a refusal two days before the page: not counted
    clock.advance(2 * 86400)  # the next refusal is the only one inside the last day
    sessions.validate(session_token=old.session_token)
    sessions.validate(session_token=old.session_token, ip_address="203.0.113.9")  # throttled: a log line, no row
    page = client.get("/admin/byo_sessions/session/").content.decode()
    recent = page[page.index('id="byo-recent"') : page.index("</table>", page.index('id="byo-recent"'))]
    link = re.search(r'<th>Validation failed</th><td><a href="([^"]+)">1</a>', recent)
    assert link, recent
    assert "<th>Token reuse detected (theft)</th><td>0</td>" in recent
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


def test_view_only_staff_are_not_offered_the_end_action_and_cannot_post_it(staff_client, user):
    """The attack: a staff user with only view_session ended every session, the superuser's too."""
    client = staff_client("view_session")
    target = sessions.create(user_id=user.pk).data
    page = client.get("/admin/byo_sessions/session/")
    assert page.status_code == 200 and target.session_id in page.content.decode()
    assert "end_selected" not in page.content.decode()
    audit_before = AuditEvent.objects.count()
    response = client.post(
        "/admin/byo_sessions/session/", {"action": "end_selected", "_selected_action": [target.session_id]}
    )
    assert response.status_code == 200  # Django ignores an action the user may not run: the list again
    assert is_ok(sessions.validate(session_token=target.session_token))
    assert is_ok(sessions.validate(session_token=client.cookies[COOKIE].value))
    assert AuditEvent.objects.count() == audit_before
    assert not AuditEvent.objects.filter(event_type="session_invalidated").exists()


def test_staff_with_the_end_permission_can_end_sessions(staff_client, user):
    client = staff_client("view_session", "end_session")
    target = sessions.create(user_id=user.pk).data
    assert "end_selected" in client.get("/admin/byo_sessions/session/").content.decode()
    response = client.post(
        "/admin/byo_sessions/session/", {"action": "end_selected", "_selected_action": [target.session_id]}
    )
    assert response.status_code == 302
    assert sessions.validate(session_token=target.session_token).error.details["reason"] == "admin"
    assert AuditEvent.objects.filter(actor="admin:staff", event_type="session_invalidated").count() == 1


def test_no_admin_page_changes_or_deletes_a_session_even_for_a_superuser(admin_client, user):
    target = sessions.create(user_id=user.pk).data
    for path in (f"/admin/byo_sessions/session/{quote(target.session_id)}/delete/", "/admin/byo_sessions/session/add/"):
        assert admin_client.post(path, {"post": "yes"}).status_code == 403
    admin_client.post(f"/admin/byo_sessions/session/{quote(target.session_id)}/change/", {"end_reason": "admin"})
    assert is_ok(sessions.validate(session_token=target.session_token))


def test_search_by_browser_finds_the_sessions_of_that_browser_by_index(admin_client, user, other_user):
    from django.db.models import Q

    from byo_sessions.admin import session_or_browser_search
    from tests.constants import FIREFOX_LINUX

    chrome = sessions.create(user_id=user.pk, user_agent=CHROME_MAC).data.session_id
    firefox = sessions.create(user_id=other_user.pk, user_agent=FIREFOX_LINUX).data.session_id
    unknown = sessions.create(user_id=user.pk, user_agent="").data.session_id
    every = {chrome, firefox, unknown}
    for term, wanted in (
        ("firefox", {firefox}),
        ("Chrome", {chrome}),
        (" CHROME ", {chrome}),
        ("Safari", set()),
        ("alice", {chrome, unknown}),  # user names are still found
    ):
        page = admin_client.get("/admin/byo_sessions/session/", {"q": term}).content.decode()
        assert {sid for sid in every if sid in page} == wanted, term
    # Each browser cell links to that browser's sessions.
    listing = admin_client.get("/admin/byo_sessions/session/").content.decode()
    assert '<a href="/admin/byo_sessions/session/?q=Firefox" title="Sessions in Firefox">Firefox 133 on Linux</a>' in (
        listing
    )

    # The browser arm is an index lookup (the table is tiny, so sequential scans are ruled out).
    plan = query_plan(Session.objects.filter(Q(session_or_browser_search("firefox"))).values("id"))
    assert "byo_session_browser_idx" in plan, plan


def test_admin_session_list_times_are_as_short_as_they_can_be(admin_client, user, clock):
    """Today's times show the time alone, older ones more; the full time is in the tooltip."""
    from datetime import timedelta

    sid = sessions.create(user_id=user.pk, user_agent=CHROME_MAC).data.session_id
    cell = r'<td class="field-created_short"><time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [^"]*">'
    page = admin_client.get("/admin/byo_sessions/session/").content.decode()
    assert re.search(cell + r"\d\d:\d\d</time>", page), page
    Session.objects.filter(pk=sid).update(created_at=clock.now() - timedelta(days=400))  # another year
    page = admin_client.get("/admin/byo_sessions/session/").content.decode()
    assert re.search(cell + r"\d{4}-\d\d-\d\d</time>", page), page
