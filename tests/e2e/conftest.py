"""Fixtures for the end-to-end tests: the demo site on pytest-django's ``live_server``,
driven by Debian's headless Chromium through pytest-playwright.

The live server runs in a thread of this process, so the tests read the database and
``mail.outbox`` directly. Playwright's sync API keeps an event loop running in the test
thread, hence ``DJANGO_ALLOW_ASYNC_UNSAFE`` for the ORM calls made from the tests.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser_context_args(live_server: Any) -> dict:
    """Every context opens the live server, so ``page.goto("/login/")`` works.

    Deliberately not an override of the session-scoped ``base_url``: pytest-playwright's
    own ``browser_context_args`` is session-scoped and cached with whichever ``base_url``
    it met first, so tests/device_js (which overrides ``base_url`` for its own server)
    would get this live server's URL, or the other way round, when both run in one session.
    """
    return {"base_url": live_server.url}
