"""examples/flask_app: PropelAuth's BYO Flask guide with the published ``propelauth-byo`` client,
pointed at our session server, driven in headless Chromium with ``device.js``.

Our server is pytest-django's ``live_server`` (the session server mounted alone, as a sidecar
deployment), the Flask app runs on werkzeug in a thread of this process, and the browser talks
only to Flask. Rotation is brought due by moving byo_sessions' clock (this process's) by
less than a proof's allowed age, so the browser's real-time proofs stay valid.
"""
from __future__ import annotations

import importlib.util
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from byo_sessions.models import Device, Session
from byo_sessions.server.integration_keys import key_digest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM reads beside Playwright's loop

pytestmark = [pytest.mark.browser, pytest.mark.live_clock, pytest.mark.urls("tests.server.urls")]

KEY = "byo_ik_flask-example-key-0123456789abcdefghij"
APP = Path(__file__).resolve().parents[2] / "examples" / "flask_app" / "app.py"
ROTATION_SECS = 40  # below DEVICE_PROOF_MAX_AGE_SECS (60): the move below keeps proofs fresh


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("flask_example_app", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def flask_url(live_server: Any, settings: Any) -> Iterator[str]:
    from werkzeug.serving import make_server

    settings.BYO_SESSIONS = {"SERVER_INTEGRATION_KEYS": [key_digest(KEY)], "ROTATION_INTERVAL_SECS": ROTATION_SECS}
    app = load_example().create_app(byo_url=f"{live_server.url}/byo-server", integration_key=KEY,
                                    users={"ada": "ada-password-1"}, secure_cookies=False, proxy_count=1)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def session_cookie(context: Any) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == "sessionToken"), None)


def click(page: Any, button: str, expected_label: str) -> dict:
    page.evaluate("document.getElementById('out').dataset.label = ''")
    page.click(button)
    page.wait_for_function("label => document.getElementById('out').dataset.label === label",
                           arg=expected_label, timeout=15_000)
    return json.loads(page.text_content("#out").split(": ", 1)[1])


def test_login_validate_rotate_425_and_logout_in_chromium(flask_url: str, page: Any, clock: Any):
    requests_seen: list[tuple[str, int]] = []
    page.on("response", lambda r: requests_seen.append((r.url.removeprefix(flask_url), r.status)))
    page.goto(flask_url + "/")

    # Login: a session with tags and this browser's key bound to it.
    page.fill("#username", "ada")
    page.fill("#password", "ada-password-1")
    assert click(page, "#login-button", "login 200") == {"success": True, "newDeviceDetected": True}
    first_token = session_cookie(page.context)
    session = Session.objects.get(external_user_id="ada")
    assert session.device_id is not None and Device.objects.get(pk=session.device_id).external_user_id == "ada"
    assert session.tags == ["role:member"] and session.last_ip_address == "127.0.0.1"

    # A validated request, signed by the device.
    me = click(page, "#me", "me 200")
    assert me == {"userId": "ada", "sessionId": session.pk, "tags": ["role:member"], "deviceBound": True}

    # Rotation: once due, the answer carries a new token and Flask overwrites the cookie.
    clock.advance(ROTATION_SECS + 1)
    assert click(page, "#me", "me 200")["sessionId"] == session.pk
    rotated_token = session_cookie(page.context)
    assert rotated_token and rotated_token != first_token

    # The client's IP changes (the proxy in front, proxy_count=1, reports another address): device.js's cached challenge is
    # bound to the old one, so our server asks for a new one; Flask relays it as 425 and
    # device.js signs it and retries once.
    page.set_extra_http_headers({"X-Forwarded-For": "198.51.100.23"})
    requests_seen.clear()
    assert click(page, "#me", "me 200")["deviceBound"] is True
    assert [status for url, status in requests_seen if url == "/api/me"] == [425, 200]

    # Logout ends the session on our server and drops the cookie.
    assert click(page, "#logout", "logout 200") == {"success": True}
    assert session_cookie(page.context) is None
    session.refresh_from_db()
    assert session.ended_at is not None and session.end_reason == "logout"
    assert click(page, "#me", "me 401") == {"error": "Unauthorized"}
