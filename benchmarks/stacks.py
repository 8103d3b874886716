"""The stacks ``bench_requests.py`` compares, their logins and their requests.

Every stack serves the same protected view body (``benchmarks/urls.py``: the username of
``request.user``, or ``-`` without auth): a plain Django view behind session middleware,
or a DRF ``APIView`` for the token schemes (knox, our stateless JWT), which only DRF
authenticates. Each stack's WSGI handler is built under its own ``SESSION_ENGINE`` and
``MIDDLEWARE`` (Django's ``SessionMiddleware.__init__`` picks the store class then), so
one process, one database and one settings module hold them all. ``benchmarks/wsgi.py``
serves the same handlers to gunicorn, one per ``X-Bench-Stack`` header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

USERNAME = "bench-user"
PASSWORD = "bench-password"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
CLIENT_IP = "127.0.0.1"
BACKEND = "django.contrib.auth.backends.ModelBackend"
STACK_HEADER = "HTTP_X_BENCH_STACK"  # benchmarks/wsgi.py dispatches on it
RULES_TAG = "plan:bench-rules"

COMMON = "django.middleware.common.CommonMiddleware"
DJ_SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
DJ_AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
BYO_SESSIONS = "byo_sessions.middleware.SessionMiddleware"
BYO_AUTH = "byo_sessions.middleware.AuthenticationMiddleware"
BYO_MIDDLEWARE = [BYO_SESSIONS, COMMON, BYO_AUTH]  # the README's setup


@dataclass(frozen=True)
class Stack:
    label: str
    path: str
    middleware: list[str]
    engine: str | None = None  # SESSION_ENGINE the handler is built under (None: the settings' default)
    # Exact query counts the run insists on (None: measured and printed only).
    queries: int | None = None
    writes: int | None = None
    per_request_proof: bool = False  # a fresh DPoP proof in every request


PATH = "/whoami/"
STACKS: dict[str, Stack] = {
    "noauth": Stack("no auth (floor)", PATH, [COMMON], queries=0, writes=0),
    "stock": Stack(
        "Django db sessions + auth",
        PATH,
        [DJ_SESSIONS, COMMON, DJ_AUTH],
        engine="django.contrib.sessions.backends.db",
        queries=2,
        writes=0,
    ),
    "cached_db": Stack(
        "Django cached_db (locmem) + auth",
        PATH,
        [DJ_SESSIONS, COMMON, DJ_AUTH],
        engine="django.contrib.sessions.backends.cached_db",
        writes=0,
    ),
    "knox": Stack("django-rest-knox TokenAuthentication", "/api/knox/whoami/", [COMMON], writes=0),
    "allauth": Stack(
        "allauth usersessions, TRACK_ACTIVITY",
        PATH,
        [
            DJ_SESSIONS,
            COMMON,
            DJ_AUTH,
            "allauth.account.middleware.AccountMiddleware",
            "allauth.usersessions.middleware.UserSessionsMiddleware",
        ],
        engine="django.contrib.sessions.backends.db",
    ),
    "qsessions": Stack(
        "django-qsessions db",
        PATH,
        ["qsessions.middleware.SessionMiddleware", COMMON, DJ_AUTH],
        engine="qsessions.backends.db",
        writes=0,
    ),
    "byo": Stack(
        "ours, steady (README setup)", PATH, BYO_MIDDLEWARE, engine="byo_sessions.backends.db", queries=1, writes=0
    ),
    "byo_rules": Stack(
        "ours, IP/UA rules + tag policy", PATH, BYO_MIDDLEWARE, engine="byo_sessions.backends.db", queries=1, writes=0
    ),
    "byo_device": Stack(  # PostgreSQL: 1 query that also records the proof's jti; SQLite: 2
        "ours, DPoP proof per request",
        PATH,
        BYO_MIDDLEWARE,
        engine="byo_sessions.backends.db",
        writes=1,
        per_request_proof=True,
    ),
    "byo_jwt": Stack("ours, stateless JWT (DRF class)", "/api/jwt/whoami/", [COMMON], queries=0, writes=0),
    # Not a scheme anyone should run: our one query through Django's cursor, nothing around it.
    "one_query": Stack(
        "reference: our one SELECT and nothing else",
        PATH,
        ["benchmarks.stacks.OneQueryMiddleware", COMMON],
        queries=1,
        writes=0,
    ),
}


class OneQueryMiddleware:
    """The ``one_query`` reference stack: the session cookie, our one prepared SELECT of the
    session and its user (``selectors.session_by_token_hash``), ``request.user``; nothing
    else: no expiry, end, IP, User-Agent or policy check, no ``request.session``, no auth
    hash. What is left between it and ``byo`` is what those cost; what is left between it
    and ``noauth`` is the round trip and the row."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        from django.conf import settings

        from byo_sessions import selectors
        from byo_sessions.core.tokens import hash_token

        token = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
        session = selectors.session_by_token_hash(hash_token(token))
        if session is None or session.user is None:
            raise RuntimeError("one_query: the benchmark's session was not found")
        request.user = session.user
        return self.get_response(request)


def build_handlers(names: list[str] | None = None) -> dict[str, Any]:
    """One WSGIHandler per stack, each built under its own SESSION_ENGINE and MIDDLEWARE."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    handlers = {}
    for name in names or list(STACKS):
        stack = STACKS[name]
        with override_settings(SESSION_ENGINE=stack.engine or settings.SESSION_ENGINE, MIDDLEWARE=stack.middleware):
            handlers[name] = WSGIHandler()
    return handlers


# --- logins ---------------------------------------------------------------------------------


@dataclass
class Fixtures:
    headers: dict[str, dict[str, str]]  # each stack's request headers (WSGI names: HTTP_COOKIE, ...)
    byo_session_ids: dict[str, str]  # byo stacks: the session each one uses
    device: Any = None  # the byo_device stack's key (signs the per-request proofs)
    challenge: str = ""  # the device challenge those proofs answer
    extra: dict[str, Any] = field(default_factory=dict)

    def fresh_challenge(self) -> None:
        """Challenges expire (DEVICE_CHALLENGE_TTL_SECS): take a new one before a long run."""
        from byo_sessions.services import devices

        self.challenge = devices.create_challenge(ip_address=CLIENT_IP, user_agent=USER_AGENT).data.device_challenge

    def proofs(self, n: int, url: str) -> list[str]:
        """n one-use proofs for GET ``url`` (signed now: each is good for DEVICE_PROOF_MAX_AGE_SECS)."""
        return [self.device.proof("GET", url, nonce=self.challenge) for _ in range(n)]


def _login_request(path: str = "/login/") -> Any:
    """The request a login view sees: the client's IP and User-Agent, as the bench requests."""
    from django.test import RequestFactory

    return RequestFactory().post(path, REMOTE_ADDR=CLIENT_IP, HTTP_USER_AGENT=USER_AGENT)


def _django_login(store: Any, user: Any) -> str:
    """auth.login() on a Django-style store, then what SessionMiddleware does at the response."""
    from django.contrib import auth

    request = _login_request()
    request.session = store
    auth.login(request, user, backend=BACKEND)
    request.session.save()
    return str(request.session.session_key)


def _byo_login(user: Any, **kwargs: Any) -> tuple[str, str]:
    """byo_sessions.login() on the store our middleware builds (then the response's save)."""
    import byo_sessions
    from byo_sessions.backends.db import SessionStore
    from byo_sessions.values import Ok

    request = _login_request()
    request.session = SessionStore(None, request=request)
    result = byo_sessions.login(request, user, backend=BACKEND, **kwargs)
    if not isinstance(result, Ok):
        raise RuntimeError(f"byo_sessions.login failed: {result!r}")
    request.session.save()
    if request.session.session_key != result.data.session_token:
        raise AssertionError("byo_sessions.login: the store does not carry the new session's token")
    return result.data.session_token, str(result.data.session_id)


def _rules_policy() -> None:
    """The tag policy of the rules stack: an IP allowlist, IP changes and suspicious
    User-Agent changes end the session, a shorter idle timeout (all checked per request)."""
    from byo_sessions.models import TagPolicy

    TagPolicy.objects.update_or_create(
        selector=RULES_TAG,
        defaults=dict(
            priority=0,
            description="benchmark: IP and User-Agent rules",
            ip_allowlist=["127.0.0.0/8", "::1/128"],
            ip_blocklist=["10.66.0.0/16"],
            on_ip_address_change="invalidate",
            on_user_agent_change="invalidate",
            inactivity_timeout_secs=8 * 3600,
        ),
    )


def make_fixtures(device_url: str) -> Fixtures:
    """One user, logged in once per stack the way that stack's login view does it."""
    from django.conf import settings
    from django.contrib import auth
    from django.contrib.sessions.backends.cached_db import SessionStore as CachedStore
    from django.contrib.sessions.backends.db import SessionStore as StockStore
    from knox.models import AuthToken
    from qsessions.backends.db import SessionStore as QStore

    from byo_sessions.services import stateless
    from byo_sessions.values import DeviceRegistration
    from tests.dpop_signer import TestDevice  # the proof signer our own tests use

    user_model = auth.get_user_model()
    user = user_model.objects.filter(username=USERNAME).first() or user_model.objects.create_user(
        USERNAME, password=PASSWORD
    )
    cookie = settings.SESSION_COOKIE_NAME

    def with_cookie(value: str) -> dict[str, str]:
        return {"HTTP_COOKIE": f"{cookie}={value}"}

    headers: dict[str, dict[str, str]] = {"noauth": {}}
    headers["stock"] = with_cookie(_django_login(StockStore(), user))
    headers["cached_db"] = with_cookie(_django_login(CachedStore(), user))
    headers["allauth"] = with_cookie(_django_login(StockStore(), user))
    headers["qsessions"] = with_cookie(_django_login(QStore(ip=CLIENT_IP, user_agent=USER_AGENT), user))
    _instance, knox_token = AuthToken.objects.create(user=user)
    headers["knox"] = {"HTTP_AUTHORIZATION": f"Token {knox_token}"}

    ids: dict[str, str] = {}
    token, ids["byo"] = _byo_login(user)
    headers["byo"] = with_cookie(token)
    headers["one_query"] = headers["byo"]  # the same session, read with nothing around it
    _rules_policy()
    token, ids["byo_rules"] = _byo_login(user, tags=[RULES_TAG])
    headers["byo_rules"] = with_cookie(token)

    fixtures = Fixtures(headers=headers, byo_session_ids=ids, device=TestDevice())
    fixtures.fresh_challenge()
    registration = DeviceRegistration(
        signed_device_challenge=fixtures.device.proof("POST", "http://testserver/login/", nonce=fixtures.challenge),
        request_url="http://testserver/login/",
        request_method="POST",
    )
    token, ids["byo_device"] = _byo_login(user, device_registration=registration)
    headers["byo_device"] = with_cookie(token)
    fixtures.extra["device_url"] = device_url

    jwt = stateless.create_stateless_token(session_id=ids["byo"], lifetime_secs=3600)
    headers["byo_jwt"] = {"HTTP_AUTHORIZATION": f"Bearer {jwt.data.stateless_token}"}
    _bodies["byo_jwt"] = str(user.pk).encode()
    return fixtures


def byo_row_snapshot(session_id: str) -> tuple:
    """What a steady request must leave as it was."""
    from byo_sessions.models import Session

    row = Session.objects.get(pk=session_id)
    return (
        row.token_hash,
        row.token_issued_at,
        row.last_activity_at,
        row.ended_at,
        row.last_ip_address,
        row.last_user_agent,
        row.data,
    )


def session_count() -> int:
    from byo_sessions.models import Session

    return Session.objects.count()


_bodies: dict[str, bytes] = {"noauth": b"-"}


def expected_body(name: str) -> bytes:
    """The view's answer: the username, or ``-`` without auth; a stateless token's user is
    its ``sub`` claim (the user's pk: no database read), set by ``make_fixtures``."""
    return _bodies.get(name, USERNAME.encode())


def backend_cpu_reader() -> Callable[[], int] | None:
    """Nanoseconds on CPU of this process plus its PostgreSQL backend (``/proc/<pid>/schedstat``),
    when the server runs on this machine: a figure other jobs on the machine disturb less
    than wall time. None when it cannot be read."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    paths = ("/proc/self/schedstat", f"/proc/{pid}/schedstat")
    try:
        for path in paths:
            int(open(path).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None

    def read() -> int:
        total = 0
        for path in paths:
            with open(path) as handle:
                total += int(handle.read().split()[0])
        return total

    return read


__all__ = ["STACKS", "Stack", "Fixtures", "build_handlers", "make_fixtures"]
