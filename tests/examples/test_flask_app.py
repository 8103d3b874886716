"""examples/flask_app: PropelAuth's BYO Flask guide with the published ``propelauth-byo`` client,
pointed at our session server, driven in headless Chromium with ``device.js``
(tests/examples/scenario.py). The Flask app runs on werkzeug in a thread of this process."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.examples.conftest import KEY
from tests.examples.scenario import PASSWORD, USERNAME, run_guide_scenario

pytestmark = [pytest.mark.browser, pytest.mark.live_clock, pytest.mark.urls("tests.server.urls")]

APP = Path(__file__).resolve().parents[2] / "examples" / "flask_app" / "app.py"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("flask_example_app", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def flask_url(session_server: str) -> Iterator[str]:
    from werkzeug.serving import make_server

    app = load_example().create_app(
        byo_url=session_server, integration_key=KEY, users={USERNAME: PASSWORD}, secure_cookies=False, proxy_count=1
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_the_guide_in_chromium(flask_url: str, page: Any, clock: Any):
    run_guide_scenario(page, flask_url, clock)
