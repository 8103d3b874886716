"""The browser scenario both example apps (examples/flask_app, examples/express_app) must pass
against our session server: the BYO guide's steps, driven in headless Chromium through the
shared page examples/browser/index.html and device.js."""

from __future__ import annotations

import json
from typing import Any

from byo_sessions.models import Device, Session

USERNAME, PASSWORD = "ada", "ada-password-1"
ROTATION_SECS = 40  # below DEVICE_PROOF_MAX_AGE_SECS (60): moving the clock past it keeps proofs fresh


def session_cookie(context: Any) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == "sessionToken"), None)


def click(page: Any, button: str, expected_label: str) -> dict:
    """Click, wait for the page to show the answer labelled ``expected_label``, return its JSON."""
    page.evaluate("document.getElementById('out').dataset.label = ''")
    page.click(button)
    page.wait_for_function(
        "label => document.getElementById('out').dataset.label === label", arg=expected_label, timeout=15_000
    )
    return json.loads(page.text_content("#out").split(": ", 1)[1])


def run_guide_scenario(page: Any, app_url: str, clock: Any) -> None:
    """The app runs behind one (simulated) proxy: it takes the client IP from X-Forwarded-For."""
    seen: list[tuple[str, int]] = []
    page.on("response", lambda r: seen.append((r.url.removeprefix(app_url), r.status)))
    page.goto(app_url + "/")

    # Login: a session with tags and this browser's key bound to it.
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    assert click(page, "#login-button", "login 200") == {"success": True, "newDeviceDetected": True}
    first_token = session_cookie(page.context)
    session = Session.objects.get(external_user_id=USERNAME)
    assert session.device_id is not None and Device.objects.get(pk=session.device_id).external_user_id == USERNAME
    assert session.tags == ["role:member"] and session.last_ip_address == "127.0.0.1"

    # A validated request, signed by the device.
    me = click(page, "#me", "me 200")
    assert me == {"userId": USERNAME, "sessionId": session.pk, "tags": ["role:member"], "deviceBound": True}

    # Rotation: once due, the answer carries a new token and the app overwrites the cookie.
    clock.advance(ROTATION_SECS + 1)
    assert click(page, "#me", "me 200")["sessionId"] == session.pk
    rotated_token = session_cookie(page.context)
    assert rotated_token and rotated_token != first_token

    # The client's IP changes (the proxy in front reports another address): device.js's cached
    # challenge is bound to the old one, so our server asks for a new one; the app relays it
    # as 425 and device.js signs it and retries once.
    page.set_extra_http_headers({"X-Forwarded-For": "198.51.100.23"})
    seen.clear()
    assert click(page, "#me", "me 200")["deviceBound"] is True
    assert [status for url, status in seen if url == "/api/me"] == [425, 200]

    # Logout ends the session on our server and drops the cookie.
    assert click(page, "#logout", "logout 200") == {"success": True}
    assert session_cookie(page.context) is None
    session.refresh_from_db()
    assert session.ended_at is not None and session.end_reason == "logout"
    assert click(page, "#me", "me 401") == {"error": "Unauthorized"}
