"""The sessions admin's status (column, filter, overview): expiry under each session's
policy, inactivity included, as validation decides it (services/expiry.py)."""

from __future__ import annotations

import pytest

from byo_sessions import sessions
from byo_sessions.models import Session, TagPolicy

pytestmark = pytest.mark.django_db

LIST = "/admin/byo_sessions/session/"


@pytest.fixture
def idle(user, clock):
    """Alice's session, past its 60 s inactivity timeout but not yet marked ended."""
    TagPolicy.objects.create(selector="org:kiosk", inactivity_timeout_secs=60)
    created = sessions.create(user_id=user.pk, tags=["org:kiosk"]).data
    clock.advance(120)
    return Session.objects.get(pk=created.session_id)


def _listed(client, query: str = "") -> set[str]:
    response = client.get(LIST + query)
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def test_an_idle_session_shows_as_expired_not_active(admin_client, idle):
    admin_session = Session.objects.exclude(pk=idle.pk).get()
    response = admin_client.get(LIST)
    model_admin = response.context["cl"].model_admin
    assert model_admin.status(idle) == "expired"
    assert model_admin.status(admin_session) == "active"
    assert idle.ended_at is None  # the admin only reads: nothing was marked


def test_the_status_filter_agrees_with_the_column(admin_client, idle):
    admin_session = Session.objects.exclude(pk=idle.pk).get()
    assert _listed(admin_client, "?status=active") == {admin_session.pk}
    assert _listed(admin_client, "?status=expired") == {idle.pk}
    assert _listed(admin_client, "?status=ended") == set()
    assert _listed(admin_client) == {admin_session.pk, idle.pk}


def test_the_overview_counts_from_stored_expiry_without_reading_every_session(admin_client, idle):
    """The header's counts are SQL aggregates (a per-row policy pass took 30 s at 1M rows):
    the idle session still counts as active there until its next request marks it, while
    the Status column and filter (per listed row) already say expired."""
    page = admin_client.get(LIST).content.decode()
    overview = page[page.index('id="byo-overview"') : page.index("</table>", page.index('id="byo-overview"'))]
    assert "<th>Active</th><td>2</td>" in overview  # the admin's own session and the idle one
    assert "<th>Past their absolute expiry, not yet marked</th><td>0</td>" in overview
    assert _listed(admin_client, "?status=expired") == {idle.pk}


def test_a_session_ended_meanwhile_leaves_the_expired_filter(admin_client, idle):
    sessions.invalidate_by_id(session_id=idle.pk, reason="admin")
    assert _listed(admin_client, "?status=expired") == set()
    assert _listed(admin_client, "?status=ended") == {idle.pk}
