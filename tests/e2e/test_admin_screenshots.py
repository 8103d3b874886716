"""The admin pages docs/admin.md shows, in headless Chromium: a staff user logs in through
the admin's own form and opens the session list (with its counts and security events), a
session's page (its timeline) and the tag policies. Each page is checked, then captured.

The screenshots go to a temporary directory; ``BYO_UPDATE_SCREENSHOTS=1`` writes them to
``docs/images/admin/`` instead, which is how the images in the docs are made."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from byo_sessions import sessions
from byo_sessions.models import TagPolicy
from byo_sessions.services import policies
from tests.constants import IP, UA

pytestmark = [
    pytest.mark.browser,
    pytest.mark.live_clock,
    pytest.mark.django_db(transaction=True),  # the live server thread must see the rows
    pytest.mark.urls("example_project.urls"),
]

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images" / "admin"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return DOCS_IMAGES if os.environ.get("BYO_UPDATE_SCREENSHOTS") == "1" else tmp_path


def test_admin_pages_for_the_docs(page: Page, django_user_model: Any, shots: Path) -> None:
    django_user_model.objects.create_superuser("admin", "admin@example.com", "admin-password")
    alice = django_user_model.objects.create_user("alice", "alice@example.com", "alice-password")
    TagPolicy.objects.create(selector="org:acme", absolute_lifetime_secs=8 * 3600, ip_allowlist=["203.0.113.0/24"])
    TagPolicy.objects.create(selector="role:admin", inactivity_timeout_secs=900, device_verification_required=True)
    policies.forget_cached()
    made = sessions.create(user_id=alice.pk, ip_address=IP, user_agent=UA, tags=["org:acme"]).data
    assert sessions.create(user_id=alice.pk, ip_address="203.0.113.9", user_agent=UA, tags=["org:acme"]).data
    sessions.invalidate_by_id(session_id=made.session_id, reason="admin", actor="admin:admin")

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/admin/login/?next=/admin/byo_sessions/session/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin-password")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/byo_sessions/session/", timeout=10_000)
    expect(page.locator("#result_list")).to_contain_text("203.0.113.9")  # alice's live session
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=shots / "sessions.png", full_page=True)

    page.goto(f"/admin/byo_sessions/session/{made.session_id}/change/")
    expect(page.locator("body")).to_contain_text("session_invalidated")
    page.screenshot(path=shots / "session.png", full_page=True)

    page.goto("/admin/byo_sessions/tagpolicy/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.screenshot(path=shots / "tag-policies.png", full_page=True)

    assert all((shots / name).stat().st_size > 10_000 for name in ("sessions.png", "session.png", "tag-policies.png"))
