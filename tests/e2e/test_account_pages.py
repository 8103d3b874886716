"""The end-user "Your sessions" pages (byo_sessions.account) in the demo site, in real
headless Chromium at a desktop (1280 px) and a phone (390 px) width. Each run saves the
page as docs/images/account-sessions-<width>.png (shown in docs/guides/account-pages.md).

The client IP comes from ``X-Forwarded-For`` (``PROXY_COUNT=1``), located through Django's
GeoIP2 over the small databases tests/services/test_geo.py writes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from byo_sessions import sessions
from byo_sessions.core import clock
from byo_sessions.models import EndReason, Session
from byo_sessions.services import geo
from tests.constants import CHROME_LINUX, CHROME_MAC
from tests.e2e.test_demo_devices import EMAIL, PASSWORD, USERNAME, log_in, messages
from tests.services.test_geo import written_databases

pytestmark = [
    pytest.mark.browser,
    pytest.mark.live_clock,  # device proofs carry the real time in iat
    pytest.mark.django_db(transaction=True),  # the live server thread must see the rows
    pytest.mark.urls("example_project.urls"),
]

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
BERLIN, PARIS, MUNICH = "198.51.100.10", "192.0.2.10", "198.51.100.200"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def site(settings: Any, django_user_model: Any) -> Any:
    settings.BYO_SESSIONS = {"PROXY_COUNT": 1, "ADAPTER": "example_project.demo.adapter.DemoAdapter"}
    settings.GEOIP_PATH = str(written_databases())
    settings.LOGIN_URL = "/login/"  # the example site's
    user = django_user_model.objects.create_user(username=USERNAME, password=PASSWORD, email=EMAIL)
    yield user
    geo.forget_cached()


def other_sessions(user: Any) -> dict[str, str]:
    """A laptop in Paris (active 3 hours ago) and a phone in Munich, and one ended by an admin."""
    now = clock.now()
    made = {}
    for name, ip, ua, age in (
        ("laptop", PARIS, CHROME_LINUX, timedelta(days=2)),
        ("phone", MUNICH, IPHONE, timedelta(days=9)),
        ("old", PARIS, CHROME_LINUX, timedelta(days=4)),
    ):
        created = sessions.create(user_id=user.pk, ip_address=ip, user_agent=ua).data
        Session.objects.filter(pk=created.session_id).update(created_at=now - age, last_activity_at=now - age / 16)
        made[name] = created.session_id
    sessions.invalidate_by_id(session_id=made["old"], reason=EndReason.ADMIN, actor="admin:1")
    return made


def open_browser(browser: Browser, live_server: Any, width: int) -> Page:
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": width, "height": 900},
        user_agent=CHROME_MAC,
        extra_http_headers={"X-Forwarded-For": BERLIN},
    )
    return context.new_page()


def no_sideways_scroll(page: Page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [1280, 390])
def test_your_sessions_page(browser: Browser, live_server: Any, site: Any, width: int) -> None:
    made = other_sessions(site)
    page = open_browser(browser, live_server, width)
    log_in(page)
    page.goto("/account/sessions/")
    cards = page.locator("#byo-live .byo-card")
    expect(cards).to_have_count(3)
    first = cards.nth(0)
    expect(first).to_have_class("byo-card byo-current")
    expect(first.locator(".byo-badge-current")).to_have_text("This device")
    expect(first.locator(".byo-badge-bound")).to_have_text("Device-bound")  # device.js signed the login
    expect(first.locator(".byo-where")).to_contain_text("Berlin, Germany · Berlin Telecom")
    expect(cards.nth(1)).to_contain_text("Paris, France")
    expect(cards.nth(1)).to_contain_text("Last active 3\u00a0hours ago")
    expect(cards.nth(2)).to_contain_text("Safari 17 on iOS")
    expect(page.locator("#byo-ended")).to_contain_text("An administrator ended it.")
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / f"account-sessions-{width}.png"), full_page=True)
    assert no_sideways_scroll(page)

    page.click("#end-others")  # asks first
    expect(page.locator("h1")).to_have_text("Sign out your other sessions?")
    expect(page.locator(".byo-card")).to_have_count(2)
    assert no_sideways_scroll(page)
    assert Session.objects.filter(pk__in=[made["laptop"], made["phone"]], ended_at__isnull=True).count() == 2
    page.click("#confirm-end-others")
    page.wait_for_url("**/account/sessions/")
    assert messages(page) == ["Signed out 2 other sessions."]
    expect(page.locator("#byo-live .byo-card")).to_have_count(1)
    expect(page.locator("#byo-ended")).to_contain_text("You ended it from another device.")
    page.context.close()


def test_a_browser_signed_out_elsewhere_is_told_why(browser: Browser, live_server: Any, site: Any) -> None:
    laptop = open_browser(browser, live_server, 1280)
    phone = open_browser(browser, live_server, 390)
    log_in(laptop)
    log_in(phone)
    laptop.goto("/account/sessions/")
    laptop.locator("#byo-live .byo-card").nth(1).locator("button.byo-end").click()  # the phone's session
    laptop.wait_for_url("**/account/sessions/")
    assert messages(laptop) == ["That session has ended: the device it was on is signed out."]

    phone.goto("/account/sessions/")
    phone.wait_for_url("**/login/**")
    assert messages(phone) == ["You were signed out: this session was ended from another of your devices."]
    phone.reload()
    assert messages(phone) == []  # said once
    laptop.context.close()
    phone.context.close()
