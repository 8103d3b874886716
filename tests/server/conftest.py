"""Fixtures for the session server: a configured integration key, the real
``propelauth-byo`` client against ``live_server``, and raw-HTTP helpers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from django.test import Client

from byo_sessions.server.integration_keys import key_digest
from tests.constants import IP, UA  # the server tests import them from here
from tests.dpop_signer import TestDevice

KEY = "byo_ik_test-integration-key-0123456789abcdef"
OTHER_KEY = "byo_ik_not-configured-key-0123456789abcdef"
APP_URL = "https://app.example/api/me"
LOGIN_URL = "https://app.example/login"

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """The client is async (aiohttp); the tests are sync. The coroutine runs on its own
    loop in a short-lived thread: Playwright's sync API (browser tests earlier in the same
    session) leaves a loop running in the main thread, where ``asyncio.run`` refuses."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def configure(settings: Any, **keys: Any) -> None:
    """Merge keys into BYO_SESSIONS (the setting_changed signal reloads byo_settings)."""
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, **keys}


@pytest.fixture(autouse=True)
def integration_key(settings: Any) -> str:
    configure(settings, SERVER_INTEGRATION_KEYS=[key_digest(KEY)])
    return KEY


@pytest.fixture
def server_url(live_server: Any) -> str:
    return live_server.url + "/byo-server"


@pytest.fixture
def byo(server_url: str) -> Any:
    from propelauth_byo import create_client

    return create_client(url=server_url, integration_key=KEY)


@pytest.fixture
def device() -> TestDevice:
    return TestDevice()


def signed(
    byo: Any,
    device: TestDevice,
    clock: Any,
    method: str = "GET",
    url: str = APP_URL,
    *,
    ip: str = IP,
    ua: str = UA,
    iat: float | None = None,
) -> str:
    """A proof over a fresh challenge the server issued for this IP and User-Agent."""
    challenge = run(byo.session.device.create_challenge(user_agent=ua, ip_address=ip))
    assert challenge.data.device_challenge
    return device.proof(
        method, url, challenge.data.device_challenge, iat=int(clock.now().timestamp()) if iat is None else iat
    )


Post = Callable[..., Any]


@pytest.fixture
def post() -> Post:
    """Raw HTTP through Django's test client: ``post(body, key=KEY)`` -> (status, json)."""
    client = Client(enforce_csrf_checks=True)

    def send(
        body: Any, *, key: str | None = KEY, auth: str | None = None, raw: bool = False, method: str = "post"
    ) -> tuple[int, Any]:
        headers = {}
        if auth is not None:
            headers["Authorization"] = auth
        elif key is not None:
            headers["Authorization"] = f"Bearer {key}"
        payload = body if raw else json.dumps(body)
        if method == "get":
            response = client.get("/byo-server/run-command", headers=headers)
        else:
            response = client.post("/byo-server/run-command", payload, content_type="application/json", headers=headers)
        assert response["Content-Type"] == "application/json", response.content
        send.last = response  # type: ignore[attr-defined]
        return response.status_code, response.json()

    return send
