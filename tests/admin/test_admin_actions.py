"""Actions on the page (admin/actions.py): end this session, end all of its user's sessions,
revoke a device. Each needs end_session, shows what would end before it does, and is
audited with the acting admin. Also the page itself: links, chips, titles, labels."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote

from byo_sessions import sessions
from byo_sessions.core import clock
from byo_sessions.models import AuditEvent, Device, Session, SessionTag
from tests.admin.test_devices_admin import make_device
from tests.constants import CHROME_MAC

pytestmark = pytest.mark.django_db
SESSIONS = "/admin/byo_sessions/session/"


def live(*ids):
    return set(Session.objects.filter(pk__in=ids, ended_at__isnull=True).values_list("pk", flat=True))


def test_end_this_session_confirms_then_ends_and_audits(staff_client, user):
    target, other = (sessions.create(user_id=user.pk).data.session_id for _ in range(2))
    client = staff_client("view_session", "end_session")
    page = client.get(f"{SESSIONS}{quote(target)}/change/").content.decode()
    assert f"{SESSIONS}{quote(target)}/end/" in page and f"{SESSIONS}{quote(target)}/end-all/" in page
    confirm = client.get(f"{SESSIONS}{quote(target)}/end/").content.decode()
    assert "1 active session will end" in confirm and target in confirm and live(target)  # nothing ended yet
    response = client.post(f"{SESSIONS}{quote(target)}/end/")
    assert response.status_code == 302 and response["Location"] == f"{SESSIONS}{quote(target)}/change/"
    assert live(target, other) == {other}
    event = AuditEvent.objects.get(session_id=target, event_type="session_invalidated")
    assert (event.actor, event.reason) == ("admin:staff", "admin")
    assert f"{SESSIONS}{quote(target)}/end/" not in client.get(f"{SESSIONS}{quote(target)}/change/").content.decode()


def test_end_all_of_the_users_sessions(staff_client, user, other_user):
    alices = [sessions.create(user_id=user.pk).data.session_id for _ in range(3)]
    bobs = sessions.create(user_id=other_user.pk).data.session_id
    client = staff_client("view_session", "end_session")
    assert "3 active sessions will end" in client.get(f"{SESSIONS}{quote(alices[0])}/end-all/").content.decode()
    client.post(f"{SESSIONS}{quote(alices[0])}/end-all/")
    assert live(*alices, bobs) == {bobs}
    assert AuditEvent.objects.filter(actor="admin:staff", event_type="session_invalidated").count() == 3


def test_viewing_is_not_ending(staff_client, user):
    target = sessions.create(user_id=user.pk).data.session_id
    client = staff_client("view_session")
    assert "/end/" not in client.get(f"{SESSIONS}{quote(target)}/change/").content.decode()
    for action in ("end", "end-all"):
        assert client.get(f"{SESSIONS}{quote(target)}/{action}/").status_code == 403
        assert client.post(f"{SESSIONS}{quote(target)}/{action}/").status_code == 403
    assert live(target) == {target}


def test_unknown_session_is_404(admin_client):
    assert admin_client.post(f"{SESSIONS}ses_nope/end/").status_code == 404


def test_revoke_device_ends_its_sessions_and_forgets_it(staff_client, user):
    device = make_device(user)
    bound = sessions.create(user_id=user.pk).data.session_id
    unbound = sessions.create(user_id=user.pk).data.session_id
    Session.objects.filter(pk=bound).update(device=device, device_thumbprint=device.thumbprint)
    client = staff_client("view_device", "view_session", "end_session")
    page = client.get(f"/admin/byo_sessions/device/{quote(device.pk)}/change/").content.decode()
    assert "Revoke this device" in page and f"{SESSIONS}?device={device.pk}" in page
    assert (
        "1 active session will end"
        in client.get(f"/admin/byo_sessions/device/{quote(device.pk)}/revoke/").content.decode()
    )
    assert client.post(f"/admin/byo_sessions/device/{quote(device.pk)}/revoke/").status_code == 302
    assert not Device.objects.exists() and live(bound, unbound) == {unbound}
    revoked = AuditEvent.objects.get(event_type="device_revoked")
    assert (revoked.actor, revoked.user_ref, revoked.details["sessions_ended"]) == ("admin:staff", str(user.pk), 1)


def test_session_page_reads_like_a_product(admin_client, user):
    target = sessions.create(
        user_id=user.pk, user_agent=CHROME_MAC, ip_address="203.0.113.7", tags=["org:acme", "role:admin"]
    ).data.session_id
    Session.objects.filter(pk=target).update(country="FR", city="Lyon")
    page = admin_client.get(f"{SESSIONS}{quote(target)}/change/").content.decode()
    assert '<div class="readonly">FR</div>' in page and '<div class="readonly">Lyon</div>' in page
    assert "Chrome 131 on macOS" in page and '"browser"' not in page  # readable, not the JSON
    assert '<span class="byo-chip">org:acme</span><span class="byo-chip">role:admin</span>' in page
    assert f'href="/admin/auth/user/{user.pk}/change/">alice</a>' in page
    assert "IP address at login" in page and "Ip address" not in page
    assert "expires at the latest in 14 days" in page
    assert "<td>Session created</td>" in page


def test_audit_list_names_and_links_users_and_sessions(admin_client, user, django_user_model):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    target = sessions.create(user_id=user.pk).data.session_id
    admin_client.get("/admin/byo_sessions/auditevent/")  # the first request of the admin's session writes
    with CaptureQueriesContext(connection) as one_user:
        page = admin_client.get("/admin/byo_sessions/auditevent/").content.decode()
    assert f'href="/admin/auth/user/{user.pk}/change/">alice</a>' in page
    assert f'href="{SESSIONS}{quote(target)}/change/"><code>{target}</code></a>' in page
    assert "Session created" in page
    for n in range(3):
        sessions.create(user_id=django_user_model.objects.create_user(username=f"u{n}").pk)
    with CaptureQueriesContext(connection) as four_users:
        admin_client.get("/admin/byo_sessions/auditevent/")
    assert len(four_users) == len(one_user)  # the page's users in one query, not one per row


def test_session_list_links_users_and_filters_by_device_or_user(admin_client, user, other_user):
    now = clock.now()
    device = Device.objects.create(
        user=user, thumbprint="t" * 43, public_jwk={"kty": "EC"}, first_seen_at=now, last_seen_at=now
    )
    bound = sessions.create(user_id=user.pk, tags=["org:acme"]).data.session_id
    Session.objects.filter(pk=bound).update(device=device)
    bobs = sessions.create(user_id=other_user.pk).data.session_id
    page = admin_client.get(f"{SESSIONS}?device={device.pk}").content.decode()
    assert bound in page and bobs not in page
    assert f'href="/admin/auth/user/{user.pk}/change/">alice</a>' in page and '<span class="byo-chip">org:acme' in page
    page = admin_client.get(f"{SESSIONS}?user={other_user.pk}").content.decode()
    assert bobs in page and bound not in page


def test_ids_holding_the_admins_escapes_link_and_act(admin_client, user):
    """A random id can hold ``_3A`` or ``_5F``, which the admin's views unquote: every link
    to a session or device page is quoted as the admin quotes, and our own views unquote."""
    made = sessions.create(user_id=user.pk).data.session_id
    odd = made[:14] + "_3A_5Fx" + made[21:]
    for model, field in ((Session, "id"), (SessionTag, "session_id"), (AuditEvent, "session_id")):
        model.objects.filter(**{field: made}).update(**{field: odd})
    device = make_device(user, id="dev__3Aodd_5F", thumbprint="u" * 43, display_name="Odd")
    Session.objects.filter(pk=odd).update(device=device, device_thumbprint=device.thumbprint)
    session_page, device_page = (
        f"{SESSIONS}{quote(odd)}/change/",
        f"/admin/byo_sessions/device/{quote(device.pk)}/change/",
    )
    page = admin_client.get(session_page).content.decode()
    assert f'href="{SESSIONS}{quote(odd)}/end/"' in page and f'href="{device_page}"' in page
    assert (
        f'href="/admin/byo_sessions/device/{quote(device.pk)}/revoke/"'
        in admin_client.get(device_page).content.decode()
    )
    assert f'href="{session_page}"' in admin_client.get("/admin/byo_sessions/auditevent/").content.decode()
    assert f'href="{session_page}"' in admin_client.get(f"{SESSIONS}{quote(odd)}/end/").content.decode()
    ended = admin_client.post(f"{SESSIONS}{quote(odd)}/end/")
    assert ended.status_code == 302 and ended["Location"] == session_page
    assert admin_client.get(session_page).status_code == 200 and not live(odd)
    revoked = admin_client.post(f"/admin/byo_sessions/device/{quote(device.pk)}/revoke/")
    assert revoked.status_code == 302 and not Device.objects.filter(pk=device.pk).exists()
