"""The admin pages an operator uses, in real headless Chromium at a desktop (1280 px) and a
phone (390 px) width: the overview dashboard, a session's page with its actions, and the
pages saved as screenshots under docs/images/ (shown in docs/admin.md).

The data is written through the services (sessions, endings, audit events), then the
audit rows are spread over the past week so the charts have a shape.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.utils import quote
from playwright.sync_api import Page, expect

from byo_sessions import sessions
from byo_sessions.core import clock
from byo_sessions.models import AuditEvent, Session, TagPolicy
from byo_sessions.services import audit
from byo_sessions.services.audit import Event, EventType
from tests.constants import CHROME_MAC, CHROME_WINDOWS, FIREFOX_LINUX

pytestmark = [pytest.mark.browser, pytest.mark.live_clock, pytest.mark.django_db(transaction=True)]

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
ADMIN, PASSWORD = "root", "pw-root-123"


@pytest.fixture
def seeded(django_user_model: Any, settings: Any) -> str:
    """Twelve users' sessions over a week, some ended, some security events; answers the id
    of a live session of alice with tags (the one the session-page test opens)."""
    settings.BYO_SESSIONS = {"OVERVIEW_CACHE_SECS": 0}
    django_user_model.objects.create_superuser(username=ADMIN, password=PASSWORD, email="root@example.com")
    browsers = (CHROME_MAC, CHROME_WINDOWS, FIREFOX_LINUX)
    ips = ("203.0.113.{}", "193.0.6.{}", "8.8.4.{}", "203.0.113.{}")  # unknown, NL, US (the offline lookup)
    users = [
        django_user_model.objects.create_user(username=name, password="pw-x-123456")
        for name in (
            "alice",
            "bob",
            "carol",
            "dave",
            "erin",
            "frank",
            "grace",
            "heidi",
            "ivan",
            "judy",
            "mallory",
            "oscar",
        )
    ]
    ids = []
    for i, user in enumerate(users):
        for k in range(1 + (i + 1) % 3):
            tags = [f"org:{('acme', 'globex', 'initech')[i % 3]}"] + (["role:admin"] if i % 4 == 0 else [])
            ids.append(
                sessions.create(
                    user_id=user.pk, tags=tags, user_agent=browsers[(i + k) % 3], ip_address=ips[i % 4].format(10 + i)
                ).data.session_id
            )
    for n, sid in enumerate(ids[::3]):
        sessions.invalidate_by_id(session_id=sid, reason=("logout", "admin", "password_changed")[n % 3])
    for n in range(6):
        audit.record(
            Event(
                EventType.VALIDATION_FAILED,
                user_ref=str(users[n % 2].pk),
                ip_address=f"198.51.100.{n % 3}",
                reason="ip_not_allowed",
            )
        )
    audit.record(Event(EventType.TOKEN_REUSE_DETECTED, user_ref=str(users[3].pk), ip_address="198.51.100.9"))
    audit.record(Event(EventType.NEW_DEVICE_DETECTED, user_ref=str(users[1].pk)))
    audit.record(Event(EventType.SESSION_LIMIT_EXCEEDED, user_ref=str(users[2].pk)))
    now = clock.now()
    for n, sid in enumerate(ids):  # logged in over the last few hours, so a shorter lifetime would end some
        Session.objects.filter(pk=sid).update(created_at=now - timedelta(minutes=40 * n))
    for n, event_id in enumerate(AuditEvent.objects.order_by("id").values_list("id", flat=True)):
        AuditEvent.objects.filter(pk=event_id).update(created_at=now - timedelta(hours=(n * 7) % 160))
    return Session.objects.filter(user__username="alice", ended_at__isnull=True).values_list("id", flat=True)[0]


def log_in(page: Page) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", ADMIN)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("form", list(WIDTHS))
def test_overview_dashboard(page: Page, seeded: str, form: str) -> None:
    width, height = WIDTHS[form]
    page.set_viewport_size({"width": width, "height": height})
    log_in(page)
    expect(page.locator("#site-name")).to_have_text("byo-sessions")
    expect(page.locator("#byo-overview-panel")).to_be_visible()
    page.click("#byo-overview-panel h2 a")
    expect(page.locator("#byo-card-active .value")).to_have_text(str(Session.objects.filter(ended_at=None).count()))
    page.click("text=Last 7 days")
    expect(page.locator(".byo-windows strong")).to_have_text("Last 7 days")
    expect(page.locator("#byo-chart-security svg rect")).not_to_have_count(0)
    expect(page.locator("#byo-rollup-note")).to_contain_text("manage.py byo_rollup")  # no rollups in this data
    for chart in page.locator("figure.byo-chart svg").all():  # every chart fits its column
        box = chart.bounding_box()
        assert box is not None and 0 < box["width"] <= width
    no_sideways_scroll(page)
    page.screenshot(path=str(IMAGES / f"admin-overview-{width}.png"), full_page=True)


@pytest.mark.parametrize("form", list(WIDTHS))
def test_session_page_and_ending_it(page: Page, seeded: str, form: str) -> None:
    width, height = WIDTHS[form]
    page.set_viewport_size({"width": width, "height": height})
    log_in(page)
    for listing in ("session", "device", "auditevent"):  # the lists scroll inside their box, not the page
        page.goto(f"/admin/byo_sessions/{listing}/")
        no_sideways_scroll(page)
    page.goto("/admin/byo_sessions/session/")
    page.fill("#searchbar", "firefox")  # search by browser
    page.press("#searchbar", "Enter")
    firefox = Session.objects.filter(client__browser="Firefox").count()
    expect(page.locator("#result_list tbody tr")).to_have_count(firefox)
    expect(page.locator("#result_list td.field-client_display").first).to_contain_text("Firefox 133 on Linux")
    no_sideways_scroll(page)
    page.screenshot(path=str(IMAGES / f"admin-sessions-{width}.png"), full_page=True)
    page.goto(f"/admin/byo_sessions/session/{quote(seeded)}/change/")
    expect(page.locator(".field-tags_display .byo-chip").first).to_have_text("org:acme")
    expect(page.locator("#byo-timeline")).to_contain_text("Session created")
    no_sideways_scroll(page)
    page.screenshot(path=str(IMAGES / f"admin-session-{width}.png"), full_page=True)
    page.click("#byo-end-session")
    expect(page.locator("#byo-doomed")).to_contain_text(seeded)
    page.click("#byo-confirm")
    expect(page.locator(".messagelist")).to_contain_text("Session ended.")
    assert Session.objects.get(pk=seeded).ended_by == f"admin:{ADMIN}"
    expect(page.locator("#byo-timeline")).to_contain_text(f"admin:{ADMIN}")


@pytest.mark.parametrize("form", list(WIDTHS))
def test_policy_dry_run_then_save(page: Page, seeded: str, form: str) -> None:
    width, height = WIDTHS[form]
    page.set_viewport_size({"width": width, "height": height})
    log_in(page)
    page.goto("/admin/byo_sessions/tagpolicy/add/")
    page.fill("#id_selector", "org:globex")
    page.fill("#id_priority", "10")
    page.fill("#id_absolute_lifetime_secs", "2 hours")
    page.fill("#id_ip_blocklist", "203.0.113.14/32")
    page.click("#byo-dry-run-button")
    expect(page.locator("#byo-would-end .value")).not_to_have_text("0")
    expect(page.locator("#byo-affected")).to_contain_text("Expired (absolute lifetime)")
    assert not TagPolicy.objects.exists()
    no_sideways_scroll(page)
    page.screenshot(path=str(IMAGES / f"admin-policy-dry-run-{width}.png"), full_page=True)
    page.click("#byo-save-change")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    assert TagPolicy.objects.get().absolute_lifetime_secs == 7200
