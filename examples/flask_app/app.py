"""A Flask app on byo_sessions' session server, following PropelAuth's BYO Flask guide step by
step with the published client (``pip install propelauth-byo flask[async]``); only the URL
and the integration key point at our server (``byo_sessions.server``) instead of the sidecar.

    BYO_URL=http://127.0.0.1:8000/byo-server BYO_INTEGRATION_KEY=byo_ik_... flask --app app run

The steps (docs/guides/flask.md walks through them):

1. one client for the app (``create_client``);
2. login: check the password (your own logic), create a session with the IP, User-Agent,
   tags and the browser's signed device challenge, put the token in an HttpOnly cookie;
3. every protected request: ``validate_and_refresh`` with the IP, User-Agent and the
   ``DPoP`` proof ``device.js`` attached; a ``new_session_token`` (rotation) overwrites the
   cookie; ``NewDeviceChallengeRequired`` is relayed as 425 with the fresh challenge, which
   ``device.js`` signs and retries;
4. a challenge endpoint for ``device.js`` (``device.create_challenge``);
5. logout: ``invalidate_by_token`` and clear the cookie.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, request, send_from_directory
from propelauth_byo import create_client, is_err
from propelauth_byo.generated.device_registration import DeviceRegistration
from propelauth_byo.generated.device_verification import DeviceVerification
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import check_password_hash, generate_password_hash

COOKIE = "sessionToken"
BROWSER_PAGE = Path(__file__).resolve().parent.parent / "browser" / "index.html"
View = Callable[..., Awaitable[Any]]


def create_app(*, byo_url: str, integration_key: str, users: dict[str, str], secure_cookies: bool = True,
               proxy_count: int = 0) -> Flask:
    """``users``: username -> password (stands in for your user store and password check).
    ``proxy_count``: how many reverse proxies you run in front (0: the app faces clients)."""
    app = Flask(__name__)
    if proxy_count:  # the client's IP (what sessions and challenges are bound to) from X-Forwarded-For
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxy_count)  # type: ignore[method-assign]

    # Step 1: one client, pointed at the session server.
    client = create_client(url=byo_url, integration_key=integration_key)
    password_hashes = {name: generate_password_hash(password) for name, password in users.items()}

    def client_ip() -> str | None:
        return request.remote_addr

    def user_agent() -> str:
        return request.headers.get("User-Agent", "")

    def set_session_cookie(response: Response, token: str) -> None:
        response.set_cookie(COOKIE, token, httponly=True, secure=secure_cookies, samesite="Lax")

    # Step 2: login creates the session (tags, IP, User-Agent, the device's signed challenge).
    @app.post("/api/login")
    async def login() -> Any:
        body = request.get_json(silent=True) or {}
        username, password = str(body.get("username", "")), str(body.get("password", ""))
        stored = password_hashes.get(username)
        if stored is None or not check_password_hash(stored, password):
            return jsonify(error="Wrong username or password"), 401
        registration = None
        if body.get("signedDeviceChallenge"):
            registration = DeviceRegistration(signed_device_challenge=str(body["signedDeviceChallenge"]),
                                              remember_device=True, request_url=request.base_url,
                                              request_method=request.method)
        result = await client.session.create(user_id=username, ip_address=client_ip(), user_agent=user_agent(),
                                             tags=["role:member"], device_registration=registration)
        if is_err(result):
            return jsonify(error=result.error.type), 400
        response = jsonify(success=True, newDeviceDetected=bool(result.data.new_device_detected))
        set_session_cookie(response, result.data.session_token)
        return response

    # Step 3: every protected route validates (and refreshes) the session.
    def require_session(view: View) -> View:
        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = request.cookies.get(COOKIE)
            if not token:
                return jsonify(error="Unauthorized"), 401
            proof = request.headers.get("DPoP")
            verification = DeviceVerification(signed_device_challenge=proof, request_url=request.base_url,
                                              request_method=request.method) if proof else None
            result = await client.session.validate_and_refresh(session_token=token, ip_address=client_ip(),
                                                               user_agent=user_agent(),
                                                               device_verification=verification)
            if is_err(result):
                if result.error.type == "NewDeviceChallengeRequired":
                    details = result.error.details
                    return jsonify(deviceChallenge=details.device_challenge, expiresAt=details.expires_at), 425
                response = jsonify(error=result.error.type)
                if result.error.type == "InvalidSessionToken":
                    response.delete_cookie(COOKIE)
                return response, 401
            g.session = result.data
            response = app.make_response(await view(*args, **kwargs))
            if result.data.new_session_token:  # rotated: the old token dies after a short grace
                set_session_cookie(response, result.data.new_session_token)
            return response

        return wrapper

    @app.get("/api/me")
    @require_session
    async def me() -> Any:
        session = g.session
        return jsonify(userId=session.user_id, sessionId=session.session_id, tags=session.tags or [],
                       deviceBound=session.has_device_registered)

    # Step 4: the challenge device.js signs (its default URL).
    @app.get("/byo/device/challenge")
    async def device_challenge() -> Any:
        result = await client.session.device.create_challenge(user_agent=user_agent(), ip_address=client_ip())
        if is_err(result):
            return jsonify(error=result.error.type), 503
        response = jsonify(deviceChallenge=result.data.device_challenge, expiresAt=result.data.expires_at)
        response.headers["Cache-Control"] = "no-store"
        return response

    # Step 5: logout ends the session on the server and drops the cookie.
    @app.post("/api/logout")
    async def logout() -> Any:
        token = request.cookies.get(COOKIE)
        if token:
            await client.session.invalidate_by_token(session_token=token)
        response = jsonify(success=True)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/")
    def index() -> Response:
        """The page (login form, buttons, device.js): the same for the Express example."""
        return send_from_directory(BROWSER_PAGE.parent, BROWSER_PAGE.name)

    @app.get("/static/device.js")
    def device_js() -> Response:
        """byo_sessions' browser library, served from the installed package (or copy it)."""
        source = files("byo_sessions").joinpath("static/byo_sessions/device.js").read_text()
        return Response(source, mimetype="text/javascript")

    return app


if os.environ.get("BYO_URL"):  # `flask --app app run` (plain HTTP on localhost: no Secure cookie)
    app = create_app(byo_url=os.environ["BYO_URL"], integration_key=os.environ["BYO_INTEGRATION_KEY"],
                     users={"demo": "demo-password"}, secure_cookies=False)
