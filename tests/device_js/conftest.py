"""Fixtures for driving device.js in a real headless Chromium.

A tiny threaded ``http.server`` app (no Django) serves the static file, issues
challenges with ``byo_sessions.core.challenges`` and verifies proofs with
``byo_sessions.core.dpop`` exactly as a server would. Tests steer it through
:class:`AppState` (request log, forced 425s, a simulated IP change).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from byo_sessions.core.challenges import ChallengeError, check_challenge, issue_challenge
from byo_sessions.core.dpop import ProofError, extract_proof_header, verify_proof

STATIC_ROOT = Path(__file__).resolve().parents[2] / "byo_sessions" / "static"
CHALLENGE_PATHS = {"/byo/device/challenge", "/challenge"}

INDEX_HTML = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>loading</title></head>
<body>
<script type="module">
import * as device from "/static/byo_sessions/device.js";
window.device = device;
document.title = "ready";
</script>
</body></html>
"""


@dataclass
class AppState:
    """Server-side state and log; reset before every test."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    ttl_secs: int = 300
    ip_override: str | None = None  # pretend every request now comes from this IP
    force_challenge_status: int = 0  # answer the next N valid proofs with 425
    challenge_requests: int = 0
    echo_requests: list[dict[str, Any]] = field(default_factory=list)
    seen_jti: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.secret = secrets.token_bytes(32)
            self.ttl_secs = 300
            self.ip_override = None
            self.force_challenge_status = 0
            self.challenge_requests = 0
            self.echo_requests = []
            self.seen_jti = set()


class _Handler(BaseHTTPRequestHandler):
    state: AppState  # set on the subclass made by the fixture

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _client(self) -> tuple[str, str | None]:
        return self.state.ip_override or self.client_address[0], self.headers.get("User-Agent")

    def _fresh_challenge(self) -> dict[str, Any]:
        ip, ua = self._client()
        challenge, expires_at = issue_challenge(
            secret=self.state.secret, ip_address=ip, user_agent=ua, now=time.time(), ttl_secs=self.state.ttl_secs
        )
        return {"deviceChallenge": challenge, "expiresAt": expires_at}

    def _route(self) -> None:
        path = urlsplit(self.path).path
        if self.command == "GET" and path == "/":
            self._send(200, INDEX_HTML, "text/html; charset=utf-8")
        elif self.command == "GET" and path.startswith("/static/"):
            file = (STATIC_ROOT / path.removeprefix("/static/")).resolve()
            if STATIC_ROOT in file.parents and file.is_file():
                self._send(200, file.read_bytes(), "text/javascript; charset=utf-8")
            else:
                self._json(404, {"error": "not_found"})
        elif self.command == "GET" and path in CHALLENGE_PATHS:
            with self.state.lock:
                self.state.challenge_requests += 1
            self._json(200, self._fresh_challenge())
        elif path == "/api/echo":
            self._echo()
        else:
            self._json(404, {"error": "not_found"})

    def _echo(self) -> None:
        """Verify the proof like a resource server would, and log what happened."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        headers = self.headers.get_all("DPoP") or []
        record: dict[str, Any] = {"method": self.command, "path": self.path, "dpop_headers": len(headers), "body": body}
        status, payload = self._check(headers, record)
        record["status"] = status
        with self.state.lock:
            self.state.echo_requests.append(record)
        self._json(status, payload)

    def _check(self, headers: list[str], record: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        ip, ua = self._client()
        now = time.time()
        meta = {"HTTP_DPOP": ", ".join(headers)} if headers else {}  # as WSGI joins repeats
        try:
            proof = extract_proof_header(meta)
            verified = verify_proof(
                proof, method=self.command, url=f"http://{self.headers['Host']}{self.path}", now=now
            )
        except ProofError as exc:
            record["reason"] = exc.reason
            if exc.reason in {"iat_too_old", "iat_in_future"}:  # as byo_sessions answers: sign again
                return 425, self._fresh_challenge()
            return 401, {"error": exc.reason}
        record.update(
            thumbprint=verified.thumbprint, jti=verified.jti, htm=verified.htm, htu=verified.htu, ath=verified.ath
        )
        if verified.nonce is None:
            record["reason"] = "nonce_required"
            return 425, self._fresh_challenge()
        with self.state.lock:
            forced = self.state.force_challenge_status > 0
            self.state.force_challenge_status -= forced
        if forced:
            record["reason"] = "forced"
            return 425, self._fresh_challenge()
        try:
            check_challenge(verified.nonce, secret=self.state.secret, ip_address=ip, user_agent=ua, now=now)
        except ChallengeError as exc:
            record["reason"] = exc.reason
            if exc.reason in {"expired", "ip_mismatch"}:
                return 425, self._fresh_challenge()
            return 401, {"error": exc.reason}
        with self.state.lock:
            if verified.jti in self.state.seen_jti:
                record["reason"] = "replay"
                return 401, {"error": "replay"}
            self.state.seen_jti.add(verified.jti)
        record["reason"] = "ok"
        return 200, {
            "thumbprint": verified.thumbprint,
            "htm": verified.htm,
            "htu": verified.htu,
            "jti": verified.jti,
            "ath": verified.ath,
            "body": record["body"],
        }

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _route


@pytest.fixture(scope="session")
def app_server() -> Any:
    state = AppState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def base_url(app_server: Any) -> str:
    """pytest-playwright passes this to every context, so ``page.goto("/")`` works."""
    server, _ = app_server
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def browser_context_args(base_url: str) -> dict:
    """Every context of these tests opens this app. pytest-playwright's own
    ``browser_context_args`` is session-scoped and keeps the ``base_url`` of whichever test
    used it first (another directory's browser tests may run before these), so ours is
    function-scoped, as tests/e2e's is."""
    return {"base_url": base_url}


@pytest.fixture
def app(app_server: Any) -> AppState:
    _, state = app_server
    state.reset()
    return state
