"""Fixtures of the example apps' tests: our session server on ``live_server`` with one
integration key and a short rotation interval (tests/examples/scenario.py)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from byo_sessions.server.integration_keys import key_digest
from tests.examples.scenario import ROTATION_SECS

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM reads beside Playwright's loop

KEY = "byo_ik_example-apps-key-0123456789abcdefghijk"


@pytest.fixture
def session_server(live_server: Any, settings: Any) -> str:
    """The session server's URL (``tests.server.urls`` mounts it alone, as a sidecar)."""
    settings.BYO_SESSIONS = {"SERVER_INTEGRATION_KEYS": [key_digest(KEY)], "ROTATION_INTERVAL_SECS": ROTATION_SECS}
    return f"{live_server.url}/byo-server"
