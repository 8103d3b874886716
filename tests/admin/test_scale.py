"""Changelists at scale (admin/scale.py): searches by indexed equality, no full-table
count or DISTINCT per page view, only the shown columns read."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext

from byo_sessions import is_ok, sessions
from byo_sessions.admin.scale import COUNT_CAP, EstimatedCountPaginator
from byo_sessions.models import AuditEvent, Session
from tests.constants import CHROME_MAC
from tests.sql import query_plan

pytestmark = pytest.mark.django_db

SESSIONS = "/admin/byo_sessions/session/"
AUDIT = "/admin/byo_sessions/auditevent/"


def make(user=None, external=None, ip="198.51.100.7") -> str:
    result = sessions.create(
        user_id=None if user is None else user.pk, external_user_id=external, ip_address=ip, user_agent=CHROME_MAC
    )
    assert is_ok(result)
    return result.data.session_id


def listed(admin_client, url: str, **params: str) -> str:
    response = admin_client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def test_session_search_by_id_current_ip_username_email_pk_or_external_id(admin_client, user, other_user):
    user.email = "Alice@Example.org"
    user.save()
    alices = make(user, ip="203.0.113.5")
    bobs = make(other_user, ip="2001:db8::1")
    external = make(external="ext-42")
    cases = {alices: "203.0.113.5", bobs: "2001:db8:0::1", external: "ext-42"}
    for wanted, term in [
        *cases.items(),
        (alices, "alice"),
        (alices, "alice@example.org"),
        (bobs, str(other_user.pk)),
        (bobs, bobs),
    ]:
        page = listed(admin_client, SESSIONS, q=term)
        assert wanted in page and all(other not in page for other in cases if other != wanted), term
    page = listed(admin_client, SESSIONS, q="nobody-at-all")
    assert not any(sid in page for sid in cases)


def test_audit_search_by_session_id_user_ref_or_ip(admin_client, user, other_user):
    alices = make(user, ip="203.0.113.5")
    bobs = make(other_user)
    assert alices in listed(admin_client, AUDIT, q=alices) and bobs not in listed(admin_client, AUDIT, q=alices)
    assert bobs in listed(admin_client, AUDIT, q=str(other_user.pk))
    page = listed(admin_client, AUDIT, q="203.0.113.5")
    assert alices in page and bobs not in page


def test_audit_search_by_ip_lists_what_requests_from_it_caused_not_endings_and_reads_the_index(admin_client, user):
    """An ending's row holds the session's last IP (written from the session row); the IP
    search lists the events requests from the address caused, along byo_audit_ip_idx,
    which leaves the endings out."""
    from byo_sessions.admin.scale import audit_search
    from byo_sessions.models import AUDIT_TYPES_WITH_THE_SESSIONS_IP

    assert set(AUDIT_TYPES_WITH_THE_SESSIONS_IP) <= set(AuditEvent.Type.values)
    alices = make(user, ip="203.0.113.5")
    sessions.invalidate_by_id(session_id=alices, reason="logout")
    assert AuditEvent.objects.filter(session_id=alices, ip_address="203.0.113.5").count() == 2  # created, ended
    response = admin_client.get(AUDIT, {"q": "203.0.113.5"})
    assert [(e.event_type, e.session_id) for e in response.context["cl"].result_list] == [("session_created", alices)]
    if connection.vendor == "postgresql":
        assert "byo_audit_ip_idx" in query_plan(
            AuditEvent.objects.filter(audit_search("203.0.113.5")).order_by("-created_at")
        )


def test_audit_reason_filter_offers_fixed_choices_without_reading_the_table(admin_client, user):
    ended = make(user)
    kept = make(user)
    sessions.invalidate_by_id(session_id=ended, reason="admin")
    with CaptureQueriesContext(connection) as ctx:
        page = listed(admin_client, AUDIT, reason="admin")
    assert ended in page and kept not in page
    assert not [q for q in ctx.captured_queries if "DISTINCT" in q["sql"].upper()]


def test_no_date_drill_down_and_no_uncapped_count_of_the_listed_table(admin_client, user):
    for _ in range(3):
        make(user)
    for url, table in ((SESSIONS, "BYO_SESSIONS_SESSION"), (AUDIT, "BYO_SESSIONS_AUDITEVENT")):
        with CaptureQueriesContext(connection) as ctx:
            listed(admin_client, url)
        sql = [q["sql"].upper().replace('"', "") for q in ctx.captured_queries]
        assert not [s for s in sql if "DISTINCT" in s and "DATE" in s]  # no date_hierarchy
        counts = [
            s
            for s in sql
            if f"FROM {table}" in s and "COUNT(" in s and not any(word in s for word in ("GROUP BY", "FILTER", "CASE"))
        ]  # the overview's aggregates
        assert counts and all("LIMIT" in s for s in counts), counts


@pytest.mark.postgres_only
def test_an_unfiltered_big_table_shows_the_planners_estimate_without_counting(user, monkeypatch):
    from byo_sessions.admin import scale

    for _ in range(3):
        make(user)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE byo_sessions_auditevent")
    monkeypatch.setattr(scale, "COUNT_CAP", 1)
    with CaptureQueriesContext(connection) as ctx:
        count = EstimatedCountPaginator(AuditEvent.objects.order_by("pk"), 2).count
    assert count == AuditEvent.objects.count()  # just analysed: the estimate is exact
    assert not [q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]


def test_the_session_list_reads_only_the_shown_columns(admin_client, user):
    make(user)
    Session.objects.filter(user=user).update(metadata={"note": "x" * 50})
    with CaptureQueriesContext(connection) as ctx:
        listed(admin_client, SESSIONS)
    page_query = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith("SELECT")
        and 'FROM "byo_sessions_session" LEFT OUTER JOIN' in q["sql"]
        and "ORDER BY" in q["sql"]
    ]
    assert page_query and all(
        '"byo_sessions_session"."data"' not in sql
        and "user_agent" not in sql
        and '"byo_sessions_session"."metadata"' not in sql
        for sql in page_query
    )
    # quoted as the admin's own links are: a random id can hold "_3A"-like runs it unquotes
    detail = admin_client.get(f"{SESSIONS}{quote(Session.objects.get(user=user).pk)}/change/")
    assert detail.status_code == 200 and CHROME_MAC.split(")")[0].encode() in detail.content  # all fields there


def test_paginator_counts_filtered_rows_up_to_the_cap(user):
    for _ in range(3):
        make(user)
    filtered = EstimatedCountPaginator(Session.objects.filter(user=user).order_by("pk"), 2)
    assert filtered.count == 3 and filtered.num_pages == 2
    whole = EstimatedCountPaginator(AuditEvent.objects.order_by("pk"), 2)
    assert whole.count == AuditEvent.objects.count()  # small tables: exact (the estimate is for > COUNT_CAP)
    assert COUNT_CAP >= 1000


def test_the_sessions_list_counts_come_from_one_query(user, clock, django_assert_num_queries):
    from byo_sessions import selectors
    from byo_sessions.core import clock as byo_clock

    live = [make(user) for _ in range(3)]
    sessions.invalidate_by_id(session_id=live[0], reason="admin")
    sessions.invalidate_by_id(session_id=live[1], reason="logout")
    make(user)
    clock.advance(15 * 86400)  # past the 14-day absolute expiry of those two
    fresh = make(user)
    sessions.invalidate_by_id(session_id=fresh, reason="logout")
    make(user)
    with django_assert_num_queries(1):
        counts = selectors.session_counts(byo_clock.now())
    assert (counts.live, counts.expired_unmarked) == (1, 2)
    assert [(reason, n) for reason, _label, n in counts.ended_by_reason] == [("logout", 2), ("admin", 1)]


def test_the_type_index_serves_the_rare_types_and_leaves_out_the_lifecycle_rows(admin_client, user):
    """byo_audit_type_idx holds no row of the per-session lifecycle types (most of the trail,
    written in bulk), so a bulk ending maintains one index fewer per row; a filter on a rarer
    type reads that index, and a filter on a lifecycle type still lists its rows."""
    from byo_sessions.models import AUDIT_TYPES_NOT_INDEXED_BY_TYPE

    assert set(AUDIT_TYPES_NOT_INDEXED_BY_TYPE) <= set(AuditEvent.Type.values)
    created = make(user)
    sessions.invalidate_by_id(session_id=created, reason="logout")
    AuditEvent.objects.create(created_at=Session.objects.get(pk=created).created_at, event_type="device_registered")
    response = admin_client.get(AUDIT, {"event_type__exact": "session_invalidated"})
    assert [(e.event_type, e.session_id) for e in response.context["cl"].result_list] == [
        ("session_invalidated", created)
    ]
    if connection.vendor != "postgresql":
        return  # SQLite uses a partial index only when the query repeats its condition
    rare = AuditEvent.objects.filter(event_type="device_registered").order_by("-created_at", "-id")
    assert "byo_audit_type_idx" in query_plan(rare)
    lifecycle = AuditEvent.objects.filter(event_type="session_invalidated").order_by("-created_at", "-id")
    assert "byo_audit_type_idx" not in query_plan(lifecycle)
