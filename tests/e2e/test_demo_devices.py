"""The demo site with device binding, end to end in real headless Chromium.

The browser logs in through the demo's form (``device.js`` signs the POST with a key it
keeps in IndexedDB), then calls the demo's device-bound ``/api/me/`` with
``fetchWithDevice``. ``PROXY_COUNT=1`` makes the last ``X-Forwarded-For`` entry the
client IP (without the header it is ``REMOTE_ADDR``, 127.0.0.1), so page script can
simulate a move to another network.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from byo_sessions import sessions
from byo_sessions.conf import byo_settings
from byo_sessions.core.dpop import jwk_thumbprint
from byo_sessions.models import AuditEvent, Device, Session, TagPolicy
from byo_sessions.services import policies
from tests.browser_scripts import INSPECT_STORED_KEY

pytestmark = [
    pytest.mark.browser,
    pytest.mark.live_clock,  # proofs carry the real time in iat
    pytest.mark.django_db(transaction=True),  # the live server thread must see the rows
    pytest.mark.urls("example_project.urls"),
]

USERNAME, PASSWORD, EMAIL = "alice", "pw-alice-123", "alice@example.com"
NEW_DEVICE_MESSAGE = "New device detected: we sent you an email."
DEVICE_JS = "/static/byo_sessions/device.js"
MOVED_IP = "203.0.113.5"

# Page script: the demo's device.js module (the same instance the page imported).
CALL_API = """async (headers) => {
  const { fetchWithDevice } = await import("DEVICE_JS");
  const response = await fetchWithDevice("/api/me/", { headers });
  return { status: response.status, body: await response.json() };
}""".replace("DEVICE_JS", DEVICE_JS)


@pytest.fixture
def demo(settings: Any, django_user_model: Any) -> Any:
    settings.BYO_SESSIONS = {
        "PROXY_COUNT": 1,
        "ADAPTER": "example_project.demo.adapter.DemoAdapter",
        "REAUTH_URL": "reauthenticate",
        "REAUTH_MAX_AGE_SECS": 900,
    }  # as the demo
    TagPolicy.objects.create(selector="role:*", on_ip_address_change="challenge")
    policies.forget_cached()
    return django_user_model.objects.create_user(username=USERNAME, password=PASSWORD, email=EMAIL)


def log_in(page: Page) -> None:
    page.goto("/login/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("#login-button")
    page.wait_for_url("**/account/", timeout=10_000)
    expect(page.locator("#username")).to_have_text(USERNAME)


def messages(page: Page) -> list[str]:
    return [text.strip() for text in page.locator(".messages li").all_inner_texts()]


def new_context(browser: Browser, live_server: Any) -> BrowserContext:
    return browser.new_context(base_url=live_server.url)


def test_login_registers_the_device_and_warns_once(page: Page, demo: Any, mailoutbox: list) -> None:
    log_in(page)
    assert messages(page) == [NEW_DEVICE_MESSAGE]
    expect(page.locator("#device-registered")).to_have_text("yes")
    page.reload()
    assert messages(page) == []  # shown once
    page.click("#logout")
    page.wait_for_url(lambda url: urlsplit(url).path == "/")
    assert messages(page) == ["You are logged out."]

    log_in(page)  # same browser context: same IndexedDB, same key
    assert messages(page) == []

    assert Device.objects.filter(user=demo).count() == 1
    device = Device.objects.get(user=demo)
    rows = list(Session.objects.filter(user=demo).order_by("created_at"))
    assert len(rows) == 2 and rows[0].ended_at is not None and rows[1].ended_at is None
    assert {row.device_id for row in rows} == {device.pk}
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [EMAIL] and "new device" in mailoutbox[0].subject.lower()


def test_api_needs_the_device_proof(page: Page, demo: Any) -> None:
    log_in(page)
    page.click("#call-api")  # the demo's button: initFetchWithDevice() + fetchWithDevice("/api/me/")
    expect(page.locator("#api-result")).to_contain_text("HTTP 200")
    shown = page.locator("#api-result").inner_text()
    body = json.loads(shown.split("\n", 1)[1])
    session = Session.objects.get(user=demo, ended_at__isnull=True)
    assert body == {"username": USERNAME, "session_id": session.pk, "device": True}

    plain = page.evaluate("""async () => {
      const response = await fetch("/api/me/");
      return { status: response.status, body: await response.json() };
    }""")
    assert plain["status"] == 401, plain
    assert plain["body"]["type"] == "DeviceVerificationRequired"
    assert plain["body"]["details"]["reason"] == "missing_proof"


def test_stolen_cookie_in_another_browser_is_refused(page: Page, demo: Any, browser: Browser, live_server: Any) -> None:
    log_in(page)
    stolen = page.context.cookies()
    assert any(c["name"] == byo_settings.cookie_name for c in stolen)
    thief = new_context(browser, live_server)  # a new IndexedDB, so another key
    try:
        thief.add_cookies(stolen)
        thief_page = thief.new_page()
        thief_page.goto("/account/")  # the page itself needs no proof
        expect(thief_page.locator("#username")).to_have_text(USERNAME)
        refused = thief_page.evaluate(CALL_API, {})
    finally:
        thief.close()
    assert refused["status"] == 401, refused
    assert refused["body"]["type"] == "DeviceVerificationFailed"
    assert refused["body"]["details"]["reason"] == "unrecognised_device"
    assert page.evaluate(CALL_API, {})["status"] == 200  # the owner's browser still works


def test_ip_change_is_challenged_and_answered_by_the_device(page: Page, demo: Any) -> None:
    log_in(page)
    session = Session.objects.get(user=demo, ended_at__isnull=True)
    assert session.last_ip_address == "127.0.0.1"
    result = page.evaluate(
        """async ([url, ip]) => {
      const seen = [];
      const realFetch = window.fetch;
      window.fetch = async (input, init) => {
        const response = await realFetch(input, init);
        const request = input instanceof Request ? input : new Request(input, init);
        seen.push({ path: new URL(request.url).pathname, status: response.status,
                    xff: request.headers.get("X-Forwarded-For"), dpop: request.headers.has("DPoP") });
        return response;
      };
      try {
        const { fetchWithDevice } = await import(url);
        const response = await fetchWithDevice("/api/me/", { headers: { "X-Forwarded-For": ip } });
        return { status: response.status, body: await response.json(), seen };
      } finally {
        window.fetch = realFetch;
      }
    }""",
        [DEVICE_JS, MOVED_IP],
    )
    api_calls = [call for call in result["seen"] if call["path"] == "/api/me/"]
    assert [call["status"] for call in api_calls] == [425, 200], result
    assert all(call["xff"] == MOVED_IP and call["dpop"] for call in api_calls)
    assert result["status"] == 200 and result["body"]["username"] == USERNAME
    session.refresh_from_db()
    assert session.last_ip_address == MOVED_IP
    assert (
        AuditEvent.objects.filter(event_type="ip_changed", reason="challenge_passed", session_id=session.pk).count()
        == 1
    )


def test_stored_private_key_is_not_extractable(page: Page, demo: Any) -> None:
    log_in(page)
    result = page.evaluate(INSPECT_STORED_KEY)
    assert result["pkcs8"] == "InvalidAccessError" and result["jwk"] == "InvalidAccessError"
    assert result["extractable"] is False
    # The key in IndexedDB is the one the server bound at login.
    assert jwk_thumbprint(result["publicJwk"]) == Device.objects.get(user=demo).thumbprint


def test_login_without_webcrypto_still_works(browser: Browser, live_server: Any, demo: Any) -> None:
    context = new_context(browser, live_server)
    try:
        # As on a plain-http origin other than localhost: no crypto.subtle.
        context.add_init_script("Object.defineProperty(globalThis.crypto, 'subtle', { get: () => undefined });")
        page = context.new_page()
        log_in(page)
        assert messages(page) == []
        expect(page.locator("#device-registered")).to_have_text("no")
    finally:
        context.close()
    assert Session.objects.get(user=demo).device_id is None
    assert not Device.objects.exists()


def _make_authentication_stale(user: Any) -> None:
    """The session's last authentication an hour ago (the demo asks within 15 minutes)."""
    from datetime import timedelta

    from byo_sessions.core import clock

    Session.objects.filter(user=user, ended_at__isnull=True).update(
        authenticated_at=clock.now() - timedelta(hours=1), authentication_factors={}
    )


def test_a_sensitive_page_is_confirmed_with_the_device_key(page: Page, demo: Any) -> None:
    """``reauthenticate_form.html``'s "Confirm with this device": device.js signs the POST to
    the device re-auth endpoint (answering its 425 on its own), then the page goes on."""
    log_in(page)
    _make_authentication_stale(demo)
    page.click("#change-password")
    page.wait_for_url(lambda url: urlsplit(url).path == "/account/confirm/", timeout=10_000)
    page.click("#byo-reauth-device")
    page.wait_for_url("**/account/password/", timeout=10_000)
    expect(page.locator("#password-change-form")).to_be_visible()
    event = AuditEvent.objects.get(event_type="session_reauthenticated")
    assert event.details == {"factor": "device_proof"}


def test_a_sensitive_action_is_confirmed_with_the_password(page: Page, demo: Any) -> None:
    other = sessions.create(user_id=demo.pk, ip_address="127.0.0.1", user_agent="Other/1.0").data
    log_in(page)
    _make_authentication_stale(demo)
    page.goto("/account/sessions/")
    page.click("#end-others")  # the package's confirmation page (byo_sessions.account)
    page.click("#confirm-end-others")  # a POST: confirmed, then back on the page it was sent from
    page.wait_for_url(lambda url: urlsplit(url).path == "/account/confirm/", timeout=10_000)
    page.fill("#id_reauth_password", "not-it")
    page.click("#byo-reauth-submit")
    expect(page.locator("#byo-reauth-error")).to_contain_text("4 attempt(s) left")
    page.fill("#id_reauth_password", PASSWORD)
    page.click("#byo-reauth-submit")
    page.wait_for_url("**/account/sessions/end-others/", timeout=10_000)
    assert Session.objects.get(pk=other.session_id).ended_at is None  # nothing ended before the sign-in
    page.click("#confirm-end-others")
    page.wait_for_url("**/account/sessions/", timeout=10_000)
    assert "Signed out 1 other session." in messages(page)
    assert Session.objects.get(pk=other.session_id).end_reason == "user"
