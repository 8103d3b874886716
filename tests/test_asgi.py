"""The example project under ASGI (uvicorn): login, rotation and device-bound requests
through async views (and sync ones: Django's login and logout, the REST API), with every
SQL statement off the event loop and no callback that blocks it (tests/asgi_server.py
counts both).

The server is a real uvicorn process on the example project's settings and URLs, over a
throwaway SQLite file (on the PostgreSQL pass too: the point is the event loop, not the
database). Its clock is moved through a test-only hook instead of sleeping.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.constants import UA
from tests.dpop_signer import TestDevice

ROOT = Path(__file__).resolve().parents[1]
USERNAME, PASSWORD = "asgi-user", "asgi-password-123"

pytestmark = pytest.mark.live_clock  # the server keeps its own clock; this process's is not used


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, base: str) -> None:
        self.base = base
        self.offset = 0.0  # how far the server's byo clock was moved

    def advance(self, seconds: float) -> None:
        requests.get(f"{self.base}/__test/advance", params={"seconds": seconds}, timeout=10).raise_for_status()
        self.offset += seconds

    def stats(self, action: str = "stats") -> dict[str, Any]:
        return requests.get(f"{self.base}/__test/{action}", timeout=10).json()

    def now(self) -> int:
        return int(time.time() + self.offset)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("asgi")
    env = {
        **os.environ,
        "BYO_ASGI_DB": str(directory / "db.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "tests.asgi_settings",
        "PYTHONPATH": str(ROOT),
        "PYTHONASYNCIODEBUG": "1",
    }
    setup = (
        "import django; django.setup(); from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user(username={USERNAME!r}, password={PASSWORD!r})"
    )
    subprocess.run([sys.executable, "-c", setup], env=env, cwd=ROOT, check=True, timeout=120)
    port = free_port()
    log = (directory / "uvicorn.log").open("w+")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.asgi_server:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(f"{base}/__test/stats", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None:
                    break
                time.sleep(0.1)  # waiting for a process to listen, not for time logic
        else:
            pytest.fail("uvicorn did not start")
        assert process.poll() is None, Path(log.name).read_text()
        yield Server(base)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.seek(0)
        output = log.read()
        log.close()
        assert "SynchronousOnlyOperation" not in output and "Traceback" not in output, output


def challenge(client: requests.Session, server: Server) -> str:
    return client.get(f"{server.base}/byo/device/challenge", timeout=10).json()["deviceChallenge"]


def signed(
    client: requests.Session, server: Server, device: TestDevice, path: str, nonce: str | None = None
) -> requests.Response:
    url = f"{server.base}{path}"
    proof = device.proof("GET", url, nonce or challenge(client, server), iat=server.now())
    return client.get(url, headers={"DPoP": proof, "Accept": "application/json"}, timeout=10)


def login(client: requests.Session, server: Server, device: TestDevice) -> None:
    client.get(f"{server.base}/login/", timeout=10)  # the CSRF cookie
    url = f"{server.base}/login/"
    proof = device.proof("POST", url, challenge(client, server), iat=server.now())
    response = client.post(
        url,
        data={
            "username": USERNAME,
            "password": PASSWORD,
            "device_proof": proof,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]


def test_login_rotation_and_device_bound_async_views_keep_the_event_loop_free(server: Server):
    device = TestDevice()
    client = requests.Session()
    client.headers["User-Agent"] = UA
    login(client, server, device)
    assert signed(client, server, device, "/api/async/me/").status_code == 200  # warm-up: imports, caches
    server.stats("reset")

    # The steady path, from here on.
    me = signed(client, server, device, "/api/async/me/")
    assert me.status_code == 200 and me.json()["username"] == USERNAME and me.json()["device"] is True
    unsigned = client.get(f"{server.base}/api/async/me/", headers={"Accept": "application/json"}, timeout=10)
    assert unsigned.status_code == 401 and unsigned.json()["type"] == "DeviceVerificationRequired"
    listed = client.get(f"{server.base}/api/async/sessions/", timeout=10).json()
    assert [row["device_bound"] for row in listed["sessions"]] == [True]
    rest = client.get(f"{server.base}/api/byo/sessions/", timeout=10)  # the DRF self-service API (sync views)
    assert rest.status_code == 200 and [row["current"] for row in rest.json()] == [True]

    # Rotation: past ROTATION_INTERVAL_SECS (300 s in the example settings) the next request
    # hands out a new token; the new one works.
    before = client.cookies["sessionid"]
    server.advance(301)
    rotated = client.get(f"{server.base}/api/async/sessions/", timeout=10)
    assert rotated.status_code == 200 and "sessionid" in rotated.headers.get("Set-Cookie", "")
    assert client.cookies["sessionid"] != before
    assert rotated.json()["current"] == listed["current"]  # the same session, a new token
    assert signed(client, server, device, "/api/async/me/").status_code == 200

    # A proof over a challenge that has expired: 425 with a fresh one, signed again, 200.
    stale = challenge(client, server)
    server.advance(301)
    refused = signed(client, server, device, "/api/async/me/", nonce=stale)
    assert refused.status_code == 425 and refused.json()["deviceChallenge"]
    retried = signed(client, server, device, "/api/async/me/", nonce=refused.json()["deviceChallenge"])
    assert retried.status_code == 200, retried.text

    # Logout (Django's sync view under ASGI), then the async views refuse the old cookie.
    token = client.cookies["sessionid"]
    out = client.post(
        f"{server.base}/logout/",
        data={"csrfmiddlewaretoken": client.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=10,
    )
    assert out.status_code == 302
    after = requests.get(
        f"{server.base}/api/async/sessions/",
        cookies={"sessionid": token},
        headers={"Accept": "application/json", "User-Agent": UA},
        timeout=10,
    )
    assert after.status_code == 401

    stats = server.stats()
    assert stats["loop_debug"] is True  # asyncio's debug mode was on: slow callbacks were watched
    assert stats["queries_on_loop"] == 0
    assert stats["queries_in_threads"] > 0 and stats["query_threads"]
    assert not any(re.search("MainThread", name) for name in stats["query_threads"])
    assert stats["slow_callbacks"] == [], stats["slow_callbacks"]
