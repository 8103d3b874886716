#!/usr/bin/env python
"""Cost of one authenticated request: byo_sessions vs stock Django sessions + contrib.auth.

Run from the repository root:

    .venv/bin/python benchmarks/bench_requests.py [--requests N] [--rounds R]
                                                  [--postgres HOST:PORT | --sqlite]
                                                  [--profile [N]]

One process, one run: three WSGI handlers over the same view and the same database, each
built under its own ``SESSION_ENGINE`` and ``MIDDLEWARE`` (Django's SessionMiddleware
reads the engine in ``__init__``):

* ``noauth``  CommonMiddleware only (the floor: request/response plumbing + view),
* ``stock``   ``django.contrib.sessions.backends.db`` + Django's SessionMiddleware,
              CommonMiddleware, Django's AuthenticationMiddleware,
* ``byo``     ``byo_sessions.backends.db`` + byo's SessionMiddleware, CommonMiddleware,
              byo's AuthenticationMiddleware (the setup the README gives projects),

driven round-robin (noauth, stock, byo, noauth, ...) for ``--rounds`` rounds of
``--requests`` requests each. Both sessions are made by a login (``auth.login`` on a
stock store, ``byo_sessions.login`` on a byo store), so both carry Django's auth keys and
both stacks run the session-auth-hash check. Every response is checked (200, body ==
username, no Set-Cookie), so a broken auth path cannot produce a fast number; one probe
request per stack checks its SQL (stock 2 SELECTs, byo 1 and no write). The byo session
is on its steady path for the whole run (no rotation, no last-activity write); the
script checks the session row afterwards.

By default a throwaway PostgreSQL server is started (as ``scripts/test.sh`` does) and
removed at exit; ``--postgres HOST:PORT`` uses an existing server (a temporary database
is created and dropped), ``--sqlite`` a temporary SQLite file. See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import atexit
import gc
import glob
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

USERNAME = "bench-user"
PATH = "/whoami/"
USER_AGENT = "byo-bench/1.0"
CLIENT_IP = "127.0.0.1"
TARGET = 0.50

BACKEND = "django.contrib.auth.backends.ModelBackend"
COMMON = "django.middleware.common.CommonMiddleware"
STOCK_ENGINE = "django.contrib.sessions.backends.db"
BYO_ENGINE = "byo_sessions.backends.db"


@dataclass(frozen=True)
class Stack:
    engine: str | None  # SESSION_ENGINE the handler is built under (None: the settings' default)
    middleware: list[str]
    tables: tuple[str, ...]  # the table each query of one request reads, in order


# Session and authentication middleware where Django's go (README order), CommonMiddleware between.
STACKS: dict[str, Stack] = {
    "noauth": Stack(None, [COMMON], ()),
    "stock": Stack(STOCK_ENGINE, [
        "django.contrib.sessions.middleware.SessionMiddleware",
        COMMON,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ], ("django_session", "auth_user")),
    "byo": Stack(BYO_ENGINE, [
        "byo_sessions.middleware.SessionMiddleware",
        COMMON,
        "byo_sessions.middleware.AuthenticationMiddleware",
    ], ("byo_sessions_session",)),  # the user is joined into the session's SELECT
}
LABELS = {
    COMMON: "Common",
    "django.contrib.sessions.middleware.SessionMiddleware": "sessions.SessionMiddleware(db)",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "auth.AuthenticationMiddleware",
    "byo_sessions.middleware.SessionMiddleware": "byo.SessionMiddleware(byo db)",
    "byo_sessions.middleware.AuthenticationMiddleware": "byo.AuthenticationMiddleware",
}


# --- cleanup (runs on normal exit, errors, Ctrl-C and SIGTERM/SIGHUP) ----------------------

class Cleanup:
    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], None]]] = []

    def push(self, what: str, action: Callable[[], None]) -> None:
        self._actions.append((what, action))

    def run(self) -> None:
        while self._actions:
            what, action = self._actions.pop()
            try:
                action()
            except Exception as exc:  # keep cleaning up the rest
                print(f"warning: cleanup '{what}' failed: {exc}", file=sys.stderr)


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


# --- databases ------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _find_pg_bin() -> Path | None:
    def version_key(path: str) -> tuple[int, ...]:
        part = Path(path).parent.name
        return tuple(int(x) for x in part.split(".") if x.isdigit())

    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True):
        if os.access(os.path.join(directory, "pg_ctl"), os.X_OK):
            return Path(directory)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def start_postgres(cleanup: Cleanup) -> tuple[str, int]:
    """A throwaway server like scripts/test.sh: trust auth, 127.0.0.1, fsync off, temp dir."""
    pg_bin = _find_pg_bin()
    if pg_bin is None:
        sys.exit("error: PostgreSQL binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); "
                 "install postgresql, or pass --postgres HOST:PORT or --sqlite")
    is_root = os.geteuid() == 0
    as_pg = ["runuser", "-u", "postgres", "--"] if is_root else []
    pg_dir = Path(tempfile.mkdtemp(prefix="byo-bench-pg."))
    if ROOT in pg_dir.parents:
        sys.exit(f"error: the temp dir {pg_dir} is inside the repository; set TMPDIR elsewhere")
    data = pg_dir / "data"
    os.chmod(pg_dir, 0o755)
    if is_root:
        shutil.chown(pg_dir, "postgres")

    def stop() -> None:
        if data.exists():
            subprocess.run(as_pg + [str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(pg_dir, ignore_errors=True)

    cleanup.push("stop PostgreSQL", stop)
    port = _free_port()
    initdb = subprocess.run(as_pg + [str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                     "--no-sync"], capture_output=True, text=True)
    if initdb.returncode != 0:
        sys.exit(f"error: initdb failed:\n{initdb.stdout}{initdb.stderr}")
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={pg_dir} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    started = subprocess.run(as_pg + [str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(pg_dir / "server.log"),
                                      "-w", "-t", "30", "start", "-o", options], capture_output=True, text=True)
    if started.returncode != 0:
        log = (pg_dir / "server.log").read_text(errors="replace") if (pg_dir / "server.log").exists() else ""
        sys.exit(f"error: could not start PostgreSQL:\n{started.stdout}{started.stderr}{log}")
    return "127.0.0.1", port


def create_pg_database(cleanup: Cleanup, host: str, port: int, user: str) -> str:
    import psycopg
    from psycopg import sql

    name = f"byo_bench_{os.getpid()}"
    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    cleanup.push(f"drop database {name}", drop)
    return name


def configure_database(args: argparse.Namespace, cleanup: Cleanup) -> str:
    """Set the BYO_BENCH_* environment read by benchmarks/settings.py; returns a description."""
    if args.sqlite:
        directory = tempfile.mkdtemp(prefix="byo-bench-sqlite.")
        cleanup.push("remove SQLite dir", lambda: shutil.rmtree(directory, ignore_errors=True))
        path = os.path.join(directory, "bench.sqlite3")
        os.environ["BYO_BENCH_SQLITE"] = path
        os.environ.pop("BYO_BENCH_POSTGRES", None)
        return f"SQLite file {path}"
    if args.postgres:
        host, _, port_text = args.postgres.rpartition(":")
        if not host or not port_text.isdigit():
            sys.exit("error: --postgres wants HOST:PORT")
        port, origin = int(port_text), "existing server"
    else:
        host, port = start_postgres(cleanup)
        origin = "throwaway server"
    name = create_pg_database(cleanup, host, port, args.pg_user)
    os.environ["BYO_BENCH_POSTGRES"] = f"{host}:{port}"
    os.environ["BYO_BENCH_PGNAME"] = name
    os.environ["BYO_BENCH_PGUSER"] = args.pg_user
    os.environ.pop("BYO_BENCH_SQLITE", None)
    return f"PostgreSQL {host}:{port} ({origin}), database {name}"


# --- Django ---------------------------------------------------------------------------------

def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def build_handlers() -> dict[str, Any]:
    """One WSGIHandler per stack. load_middleware() runs in the constructor, and Django's
    SessionMiddleware.__init__ picks its SessionStore from settings.SESSION_ENGINE, so each
    handler keeps the engine and middleware it was built under."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    handlers = {}
    for name, stack in STACKS.items():
        with override_settings(SESSION_ENGINE=stack.engine or settings.SESSION_ENGINE, MIDDLEWARE=stack.middleware):
            handlers[name] = WSGIHandler()
    return handlers


@dataclass(frozen=True)
class Fixtures:
    cookies: dict[str, str]  # each stack's Cookie header ("" for noauth)
    byo_token: str
    byo_session_id: str


def _login_request() -> Any:
    """The request a login view would see: the client's IP and User-Agent, as the bench requests."""
    from django.test import RequestFactory

    return RequestFactory().post("/login/", REMOTE_ADDR=CLIENT_IP, HTTP_USER_AGENT=USER_AGENT)


def make_fixtures() -> Fixtures:
    """A user logged in once per stack, the way a login view does it, so each session holds
    Django's auth keys (user id, backend, session auth hash) and each measured request runs
    the session-auth-hash check. Returns each stack's Cookie header (SESSION_COOKIE_NAME)."""
    from django.conf import settings
    from django.contrib import auth
    from django.contrib.sessions.backends.db import SessionStore as StockStore

    import byo_sessions
    from byo_sessions.backends.db import SessionStore as ByoStore
    from byo_sessions.values import Ok

    user = auth.get_user_model().objects.create_user(USERNAME, password="bench-password")

    # Stock: auth.login() on a contrib.sessions store, then what SessionMiddleware does with
    # a modified session at the response (save()).
    request = _login_request()
    request.session = StockStore()
    auth.login(request, user, backend=BACKEND)
    request.session.save()
    stock_key = request.session.session_key

    # byo: byo_sessions.login() on the store our SessionMiddleware builds (it creates the
    # session with this request's IP and User-Agent, then runs auth.login() on it).
    request = _login_request()
    request.session = ByoStore(None, request=request)
    result = byo_sessions.login(request, user, backend=BACKEND)
    if not isinstance(result, Ok):
        raise RuntimeError(f"byo_sessions.login failed: {result!r}")
    request.session.save()  # what the middleware does at the response (nothing changed: no write)
    token = result.data.session_token
    if request.session.session_key != token:
        raise AssertionError("byo_sessions.login: the store does not carry the new session's token")
    _check_byo_session_data(str(result.data.session_id), user)

    cookie = settings.SESSION_COOKIE_NAME
    return Fixtures(cookies={"noauth": "", "stock": f"{cookie}={stock_key}", "byo": f"{cookie}={token}"},
                    byo_token=token, byo_session_id=str(result.data.session_id))


def _check_byo_session_data(session_id: str, user: Any) -> None:
    """The byo row holds what auth.login() writes, so AuthenticationMiddleware checks the hash."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from byo_sessions.backends.db import SessionStore as ByoStore
    from byo_sessions.models import Session

    data = ByoStore()._deserialize(Session.objects.get(pk=session_id).data)
    expected = {SESSION_KEY: user._meta.pk.value_to_string(user), BACKEND_SESSION_KEY: BACKEND,
                HASH_SESSION_KEY: user.get_session_auth_hash()}
    if {key: data.get(key) for key in expected} != expected:
        raise AssertionError(f"the byo session's data lacks Django's auth keys: {data!r}")


def make_environ(cookie: str) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": USER_AGENT,
        "HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8",
        "REMOTE_ADDR": CLIENT_IP,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    return environ


def _start_response(status: str, headers: list, exc_info: Any = None) -> None:
    return None


def one_request(handler: Any, environ: dict[str, Any]) -> Any:
    """What a WSGI server does: call, consume, close (close sends request_finished)."""
    response = handler(environ.copy(), _start_response)
    response.content  # noqa: B018  (consume)
    response.close()
    return response


def check_response(name: str, response: Any, expected: bytes) -> None:
    if response.status_code != 200 or response.content != expected:
        raise AssertionError(f"{name}: expected 200 {expected!r}, got {response.status_code} "
                             f"{response.content[:300]!r}")
    if name != "noauth" and response.cookies:
        raise AssertionError(f"{name}: unexpected Set-Cookie {response.cookies.output()!r}: the session "
                             "was rotated/re-saved, so this is not the steady path")


def count_queries(handler: Any, environ: dict[str, Any]) -> list[str]:
    """SQL of one request (CaptureQueriesContext forces the debug cursor just for this)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        one_request(handler, environ)
    return [q["sql"] for q in ctx.captured_queries]


def check_queries(name: str, queries: list[str]) -> None:
    """Each stack runs the SELECTs it should and writes nothing (stock 2, byo 1, noauth 0)."""
    expected = STACKS[name].tables
    ok = len(queries) == len(expected) and all(
        sql.lstrip().upper().startswith("SELECT") and _from_table(sql) == table
        for sql, table in zip(queries, expected))
    if not ok:
        listing = "\n  ".join(queries) or "(none)"
        raise AssertionError(f"{name}: expected one SELECT from each of {list(expected)}, got:\n  {listing}")


def _from_table(sql: str) -> str:
    after = sql.partition(" FROM ")[2].split()
    return after[0].strip('"`') if after else ""


def timed_block(name: str, handler: Any, environ: dict[str, Any], n: int, expected: bytes) -> float:
    """Microseconds per request over n requests; every response is checked."""
    copy = environ.copy
    start_response = _start_response
    gc.collect()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        response = handler(copy(), start_response)
        if response.status_code != 200 or response.content != expected:
            check_response(name, response, expected)  # raises with details
        response.close()
    elapsed = time.perf_counter_ns() - t0
    return elapsed / n / 1000.0


def byo_row_snapshot(session_id: str) -> tuple:
    from byo_sessions.models import Session

    row = Session.objects.get(pk=session_id)
    return (row.token_hash, row.token_issued_at, row.last_activity_at, row.ended_at, row.last_ip_address,
            row.last_user_agent, row.data)


def reference_queries(n: int, token: str) -> list[tuple[str, float]]:
    """Microseconds per call for the database work alone (no HTTP, not part of the ratio)."""
    from django.db import connection

    from byo_sessions import selectors
    from byo_sessions.models import Session
    from byo_sessions.core.tokens import hash_token

    token_hash = hash_token(token)

    def select_1() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def byo_selector() -> None:
        assert selectors.session_by_token_hash(token_hash) is not None

    def orm_get() -> None:
        Session.objects.select_related("user").get(token_hash=token_hash)

    cases = [
        ("cursor SELECT 1 (round-trip floor)", select_1),
        ("byo selectors.session_by_token_hash (cursor + from_db)", byo_selector),
        ("same row via ORM select_related('user').get()", orm_get),
    ]
    results = []
    for label, func in cases:
        for _ in range(min(n, 200)):
            func()
        gc.collect()
        t0 = time.perf_counter_ns()
        for _ in range(n):
            func()
        results.append((label, (time.perf_counter_ns() - t0) / n / 1000.0))
    return results


def profile_byo(handler: Any, environ: dict[str, Any], n: int, expected: bytes) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    timed_block("byo", handler, environ, n, expected)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"byo_sessions", 15)
    print(f"\ncProfile of {n} byo requests: top 15 cumulative entries under byo_sessions")
    print(_trim_pstats(out.getvalue()))
    out = io.StringIO()
    stats.stream = out
    stats.sort_stats("tottime").print_stats(15)
    print(f"cProfile of {n} byo requests: top 15 by own time (all code)")
    print(_trim_pstats(out.getvalue()))


def _trim_pstats(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(line.replace(str(ROOT) + os.sep, "") for line in lines[start:] if line.strip())


# --- main -----------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per stack per round (3000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5); the median is reported")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up requests per stack (300)")
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--postgres", metavar="HOST:PORT",
                    help="use this PostgreSQL server (a temporary database is created and dropped)")
    db.add_argument("--sqlite", action="store_true", help="use a temporary SQLite file")
    parser.add_argument("--pg-user", default="postgres", help="PostgreSQL user (postgres); PGPASSWORD is honoured")
    parser.add_argument("--profile", nargs="?", type=int, const=2000, default=0, metavar="N",
                        help="afterwards, cProfile N byo requests (2000) and print the top entries")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--requests and --rounds must be >= 1, --warmup >= 0")
    return args


def run(args: argparse.Namespace, cleanup: Cleanup) -> int:
    where = configure_database(args, cleanup)
    setup_django()
    import django
    from django.conf import settings
    from django.db import connection

    assert not settings.DEBUG, "DEBUG must be False while timing"
    handlers = build_handlers()
    fixtures = make_fixtures()
    environs = {name: make_environ(fixtures.cookies[name]) for name in STACKS}
    expected = {"noauth": b"-", "stock": USERNAME.encode(), "byo": USERNAME.encode()}
    before = byo_row_snapshot(fixtures.byo_session_id)

    # Correctness first (also proves each handler got its own middleware list).
    for name in STACKS:
        check_response(name, one_request(handlers[name], environs[name]), expected[name])
    for name in STACKS:
        timed_block(name, handlers[name], environs[name], args.warmup, expected[name])
    queries = {name: count_queries(handlers[name], environs[name]) for name in STACKS}
    for name in STACKS:  # also proves each handler kept its own engine (the SQL names the table)
        check_queries(name, queries[name])

    print(f"byo_sessions request benchmark: Django {django.get_version()}, Python {sys.version.split()[0]}, "
          f"{connection.vendor} ({where})")
    print(f"{args.rounds} interleaved rounds x {args.requests} requests per stack, {args.warmup} warm-up; "
          "DEBUG=False, persistent DB connection, GET /whoami/ -> request.user.get_username()")
    print("sessions made by a login (auth keys in the data, session-auth-hash check on every request); "
          "byo: steady path only (ROTATION_INTERVAL_SECS=None, TOUCH_INTERVAL_SECS=3600: "
          "no rotation, no last-activity write during the run)")

    samples: dict[str, list[float]] = {name: [] for name in STACKS}
    for round_no in range(args.rounds):
        for name in STACKS:
            samples[name].append(timed_block(name, handlers[name], environs[name], args.requests, expected[name]))

    # The steady path really was steady: same token, no touch, still live.
    for name in STACKS:
        check_response(name, one_request(handlers[name], environs[name]), expected[name])
    after = byo_row_snapshot(fixtures.byo_session_id)
    if after != before:
        raise AssertionError(f"the byo session row changed during the run: {before!r} -> {after!r}")

    median = {name: statistics.median(values) for name, values in samples.items()}
    print()
    print(f"{'stack':<8} {'queries/req':>11} {'median us/req':>14} {'min':>9} {'max':>9}  middleware")
    for name in STACKS:
        values = samples[name]
        middleware = " + ".join(LABELS.get(m, m) for m in STACKS[name].middleware)
        print(f"{name:<8} {len(queries[name]):>11} {median[name]:>14.1f} {min(values):>9.1f} {max(values):>9.1f}"
              f"  {middleware}")
    print()
    for name in ("stock", "byo"):
        for sql_text in queries[name]:
            print(f"  {name} SQL: {sql_text[:150]}{'...' if len(sql_text) > 150 else ''}")

    ratio = median["byo"] / median["stock"]
    stock_auth = median["stock"] - median["noauth"]
    byo_auth = median["byo"] - median["noauth"]
    print()
    print(f"auth overhead over noauth: stock {stock_auth:.1f} us, byo {byo_auth:.1f} us")
    if stock_auth > 0:
        print(f"(byo-noauth)/(stock-noauth) = {byo_auth / stock_auth:.2f}")
    print(f"byo/stock = {ratio:.2f} (target <= {TARGET:.2f}) {'OK' if ratio <= TARGET else 'NOT MET'}")
    # Rounds are interleaved, so a round's own ratio shares that round's machine load.
    ratios = [b / s for b, s in zip(samples["byo"], samples["stock"])]
    print(f"byo/stock per round: {' '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})")

    print()
    print(f"reference, database work only ({args.requests} calls each, not part of the ratio):")
    for label, micros in reference_queries(args.requests, fixtures.byo_token):
        print(f"  {micros:>8.1f} us  {label}")

    if args.profile:
        profile_byo(handlers["byo"], environs["byo"], args.profile, expected["byo"])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cleanup = Cleanup()
    atexit.register(cleanup.run)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    try:
        return run(args, cleanup)
    finally:
        cleanup.run()


if __name__ == "__main__":
    sys.exit(main())
