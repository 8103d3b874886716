"""examples/express_app: the same guide in Express with the published ``@propelauth/byo-node``
client, pointed at our session server, driven in headless Chromium with ``device.js``
(tests/examples/scenario.py). ``scripts/express_example.sh`` installs the app's pinned npm
dependencies; without node or them the test skips, unless CI=true."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.examples.conftest import KEY
from tests.examples.scenario import PASSWORD, USERNAME, run_guide_scenario
from tests.node_packages import ROOT, installed_npm_package

pytestmark = [pytest.mark.browser, pytest.mark.live_clock, pytest.mark.urls("tests.server.urls")]

APP_DIR = ROOT / "examples" / "express_app"


def pinned(package: str) -> str:
    return json.loads((APP_DIR / "package.json").read_text())["dependencies"][package]


@pytest.fixture
def express_url(session_server: str) -> Iterator[str]:
    for package in ("express", "@propelauth/byo-node", "cookie-parser"):
        installed_npm_package(package, pinned(package), APP_DIR, "express_example.sh")
    env = {
        **os.environ,
        "BYO_URL": session_server,
        "BYO_INTEGRATION_KEY": KEY,
        "PORT": "0",
        "PROXY_COUNT": "1",
        "SECURE_COOKIES": "false",
        "APP_USERS": json.dumps({USERNAME: PASSWORD}),
    }
    process = subprocess.Popen(
        ["node", str(APP_DIR / "app.mjs")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # blocks until the app listens (or dies)
        assert first.startswith("listening on "), first + process.stdout.read()
        yield f"http://127.0.0.1:{first.split()[-1]}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_guide_in_chromium(express_url: str, page: Any, clock: Any):
    run_guide_scenario(page, express_url, clock)
