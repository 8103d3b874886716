"""Shared fixtures: a movable clock, users, and the database vendor switch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from hypothesis import settings as hypothesis_settings

from byo_sessions.core import clock as byo_clock
from byo_sessions.services import policies, signing_keys

# CI replays the same generated examples on every run, so a red run is reproducible and
# never a coin toss; local runs (no CI=true) explore new examples each time.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    on_postgres = bool(os.environ.get("BYO_TEST_POSTGRES"))
    for item in items:
        if "postgres_only" in item.keywords and not on_postgres:
            item.add_marker(
                pytest.mark.skip(
                    reason="needs PostgreSQL: runs in the PostgreSQL pass of scripts/test.sh (BYO_TEST_POSTGRES)"
                )
            )


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium, headless, as root (for tests/device_js and tests/e2e).

    A missing Chromium skips with the reason on a developer machine and fails on CI.
    """
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing and CI=true: install the chromium package")
        pytest.skip(f"{CHROMIUM} is missing (install it with apt-get install -y chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


class Clock:
    def advance(self, seconds: float) -> None:
        byo_clock.advance(seconds)

    def now(self) -> Any:
        return byo_clock.now()


@pytest.fixture(autouse=True)
def clock(request: Any) -> Iterator[Clock]:
    """Time stands still unless a test moves it (threaded tests opt out with ``live_clock``);
    the per-process caches (policy set, signing keys) start empty."""
    byo_clock.reset()
    if "live_clock" not in request.keywords:
        byo_clock.freeze()
    policies.forget_cached()
    signing_keys.forget_cached()
    yield Clock()
    byo_clock.reset()
    policies.forget_cached()
    signing_keys.forget_cached()


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """Django's default cache (the per-IP count of unknown tokens) starts empty: frozen time
    would otherwise carry one test's count into the next one's window."""
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="bob", password="pw-bob-123")


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"


def redis_url() -> str:
    """The throwaway Redis that scripts/test.sh starts (``BYO_TEST_REDIS``): skipped without
    one on a developer machine, a failure on CI."""
    url = os.environ.get("BYO_TEST_REDIS")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("BYO_TEST_REDIS is not set and CI=true: scripts/test.sh starts Redis (redis-server)")
        pytest.skip(
            "needs a Redis server: set BYO_TEST_REDIS=redis://127.0.0.1:<port>/0 (scripts/test.sh "
            "starts one with Debian's redis-server)"
        )
    return url


@pytest.fixture(params=["locmem", "redis"])
def revocation_cache(request: Any, settings: Any) -> Iterator[str]:
    """Stateless-token revocation recording into a ``revocation`` cache: Django's local-memory
    cache, then a real Redis through Django's ``RedisCache`` (the backend projects deploy)."""
    if request.param == "redis":
        config = {"BACKEND": REDIS_BACKEND, "LOCATION": redis_url()}
    else:
        config = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "byo-revocation"}
    settings.CACHES = {**settings.CACHES, "revocation": config}
    settings.BYO_SESSIONS = {**settings.BYO_SESSIONS, "STATELESS_REVOCATION_CACHE": "revocation"}
    caches["revocation"].clear()
    yield "revocation"
    caches["revocation"].clear()
