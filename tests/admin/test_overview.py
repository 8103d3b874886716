"""The overview dashboard (admin/overview.py, charts.py) and its panel on the admin index."""

from __future__ import annotations

import re

import pytest

from byo_sessions import sessions
from byo_sessions.services import audit
from byo_sessions.services.audit import Event, EventType

pytestmark = pytest.mark.django_db
URL = "/admin/byo_sessions/session/overview/"


def test_overview_numbers_and_svg_charts(admin_client, user):
    for _ in range(3):
        sessions.create(user_id=user.pk, tags=["org:acme"])
    audit.record(Event(EventType.TOKEN_REUSE_DETECTED, user_ref=str(user.pk)))
    audit.record(Event(EventType.VALIDATION_FAILED, user_ref=str(user.pk), ip_address="203.0.113.9"))
    page = admin_client.get(URL).content.decode()
    assert re.search(r'id="byo-card-active"><span class="value">4<', page)  # alice's three and the admin's
    assert re.search(r'id="byo-card-security"><span class="value">2<', page)
    assert (
        page.count('<figure class="byo-chart"><svg') == 4 and "<script" not in page.split('id="byo-overview-page"')[1]
    )
    assert ", Token reuse detected (theft): 1</title>" in page and '<span class="byo-chip">org:acme</span>' in page
    assert "validation_failed&amp;created_at__gte=" in page and "user_ref=" in page and ">alice<" in page
    week = admin_client.get(URL + "?window=7d").content.decode()
    assert '<strong aria-current="page">Last 7 days</strong>' in week
    assert (
        '<strong aria-current="page">Last 24 hours</strong>' in admin_client.get(URL + "?window=nope").content.decode()
    )


def test_overview_permissions(staff_client, user):
    audit.record(Event(EventType.TOKEN_REUSE_DETECTED, user_ref=str(user.pk)))
    client = staff_client("view_session")
    page = client.get(URL).content.decode()
    assert (
        'id="byo-card-active"' in page and "Token reuse detected" not in page
    )  # no audit permission: no audit numbers


def test_overview_needs_view_session(staff_client):
    assert staff_client("view_tagpolicy").get(URL).status_code == 403


def test_admin_index_shows_the_panel_and_the_product_name(admin_client, settings):
    page = admin_client.get("/admin/").content.decode()
    assert 'id="byo-overview-panel"' in page and URL in page
    assert '<a href="/admin/">byo-sessions</a>' in page
    settings.BYO_SESSIONS = {"ADMIN_SITE_HEADER": "Acme sessions"}
    assert "Acme sessions</a>" in admin_client.get("/admin/").content.decode()
    settings.BYO_SESSIONS = {"ADMIN_SITE_HEADER": None}
    assert "Django administration" in admin_client.get("/admin/").content.decode()


def test_index_panel_hidden_without_view_session(staff_client):
    page = staff_client("view_tagpolicy").get("/admin/").content.decode()
    assert 'id="byo-overview-panel"' not in page


def test_session_list_links_to_the_overview(admin_client):
    assert URL in admin_client.get("/admin/byo_sessions/session/").content.decode()


@pytest.mark.parametrize("url", [URL, "/admin/byo_sessions/tagpolicy/import/"])
def test_our_pages_use_the_admins_breadcrumb_markup(admin_client, url):
    """Django 6 styles ``ol.breadcrumbs``, 5.2 ``div.breadcrumbs``: our pages follow the running one."""
    import django

    page = admin_client.get(url).content.decode()
    expected = '<ol class="breadcrumbs">' if django.VERSION >= (6, 0) else '<div class="breadcrumbs">'
    assert expected in page and 'href="/admin/">Home</a>' in page


def test_overview_says_which_days_are_counted_live_and_how_to_roll_them_up(admin_client, user, settings):
    from byo_sessions.services import rollups

    settings.BYO_SESSIONS = {"OVERVIEW_CACHE_SECS": 0}
    sessions.create(user_id=user.pk)
    page = admin_client.get(URL + "?window=30d").content.decode()
    assert "Computed live from the audit trail: 29 of the\n29 whole days" in page and "manage.py byo_rollup" in page
    rollups.roll_up(days=3)
    page = admin_client.get(URL + "?window=7d").content.decode()
    assert "Computed live from the audit trail: 3 of the\n6 whole days" in page
    rollups.roll_up(days=31)
    page = admin_client.get(URL + "?window=7d").content.decode()
    assert "come from the daily rollups" in page and "Computed live" not in page
    assert 'id="byo-rollup-note"' not in admin_client.get(URL).content.decode()  # 24 hours: always live, per hour


@pytest.mark.parametrize("rolled_up", [False, True])
def test_overview_page_queries(admin_client, user, settings, clock, rolled_up, django_assert_num_queries):
    from byo_sessions.services import rollups

    settings.BYO_SESSIONS = {"OVERVIEW_CACHE_SECS": 0}
    for _ in range(5):
        sessions.create(user_id=user.pk, tags=["org:acme"])
        audit.record(Event(EventType.VALIDATION_FAILED, user_ref=str(user.pk), ip_address="203.0.113.9"))
        clock.advance(86400)
    if rolled_up:
        rollups.roll_up()
    admin_client.get(URL)  # five days on, the admin's own session rotates its token first
    # the admin's session (with its user), then the overview's 9: unended, the rollups,
    # grouped audit, logins, tags, failed by user and by IP, new by country, usernames
    with django_assert_num_queries(10):
        assert admin_client.get(URL + "?window=30d").status_code == 200
