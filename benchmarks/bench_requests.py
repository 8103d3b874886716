#!/usr/bin/env python
"""Cost of one authenticated request: byo_sessions against stock Django and its peers.

Run from the repository root (the ``bench`` extra installs the peers, gunicorn and
pyinstrument; ``wrk`` is the Debian package):

    .venv/bin/python benchmarks/bench_requests.py [--http] [--requests N] [--rounds R]
                                                  [--postgres HOST:PORT [--pgname DB] | --sqlite]
                                                  [--profile [N]] [--only a,b,...] [--flat]

One run, one database (a throwaway PostgreSQL by default), the same protected view under
each stack of ``benchmarks/stacks.py``: no auth, Django's db and cached_db sessions,
django-rest-knox, allauth usersessions with activity tracking, django-qsessions, and ours
steady, with IP/UA rules and a tag policy, with a device proof per request, and with a
stateless JWT through its DRF class.

* In process (always): each stack's WSGI handler driven round-robin for ``--rounds``
  rounds of ``--requests`` requests; the median round's microseconds per request, the
  CPU microseconds (this process plus its PostgreSQL backend, when readable), queries and
  writes per request (one probe request each) and the ratio to stock Django.
* The flatness figure (``--flat``, ``benchmarks/flatness.py``): afterwards copies of the
  database are seeded to 10,000 and 1,000,000 sessions, and stock and ours are measured
  on them in alternating rounds.
* Over HTTP (``--http``): gunicorn sync workers serve the same handlers on loopback
  (``benchmarks/wsgi.py``), ``wrk`` loads each stack for ``--http-secs`` per round, server
  and load generator pinned to separate cores with ``taskset``: requests/s, p50/p99.

Every response is checked (status, body = username, no Set-Cookie); the SQL of the
stacks with a fixed count is checked (stock 2 SELECTs, ours 1 and no write). See
benchmarks/README.md and docs/benchmarks.md.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import flatness, stacks  # noqa: E402
from benchmarks.stacks import STACKS  # noqa: E402

TARGETS = {"byo": 0.30, "byo_rules": 0.35, "byo_device": 0.70, "byo_jwt": 0.15}  # issue 10, ratio to stock


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


def start_postgres(cleanup: Cleanup, *, shared_buffers: str | None = None) -> tuple[str, int]:
    """A throwaway server like scripts/test.sh: trust auth, 127.0.0.1, fsync off, temp dir.
    ``shared_buffers`` for a server that will hold a seeded table (``--flat``): the default
    128MB would send a million sessions' rows to the operating system's cache."""
    pg_bin = _find_pg_bin()
    if pg_bin is None:
        sys.exit(
            "error: PostgreSQL binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); "
            "install postgresql, or pass --postgres HOST:PORT or --sqlite"
        )
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
            subprocess.run(
                as_pg + [str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        shutil.rmtree(pg_dir, ignore_errors=True)

    cleanup.push("stop PostgreSQL", stop)
    port = _free_port()
    initdb = subprocess.run(
        as_pg + [str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
        capture_output=True,
        text=True,
    )
    if initdb.returncode != 0:
        sys.exit(f"error: initdb failed:\n{initdb.stdout}{initdb.stderr}")
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={pg_dir} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    if shared_buffers:
        options += f" -c shared_buffers={shared_buffers}"
    started = subprocess.run(
        as_pg
        + [
            str(pg_bin / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(pg_dir / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
            "-o",
            options,
        ],
        capture_output=True,
        text=True,
    )
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
        host, port = start_postgres(cleanup, shared_buffers=flatness.SHARED_BUFFERS if args.flat else None)
        origin = "throwaway server"
    if args.pgname:  # a pre-seeded database (the flatness figure): used as it is, never dropped
        name, origin = args.pgname, f"{origin}, existing database"
    else:
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


def make_environ(headers: dict[str, str], path: str) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": stacks.USER_AGENT,
        "HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8",
        "REMOTE_ADDR": stacks.CLIENT_IP,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    environ.update(headers)
    return environ


IN_PROCESS_URL = "http://testserver" + stacks.PATH  # what a device proof names in process


def _start_response(status: str, headers: list, exc_info: Any = None) -> None:
    return None


def check_response(name: str, response: Any) -> None:
    expected = stacks.expected_body(name)
    if response.status_code != 200 or response.content != expected:
        raise AssertionError(
            f"{name}: expected 200 {expected!r}, got {response.status_code} {response.content[:300]!r}"
        )
    if name != "noauth" and response.cookies:
        raise AssertionError(
            f"{name}: unexpected Set-Cookie {response.cookies.output()!r}: the session "
            "was rotated or re-saved, so this is not its steady path"
        )


class Driver:
    """One stack's handler and the environs of its requests."""

    def __init__(self, name: str, handler: Any, fixtures: stacks.Fixtures) -> None:
        self.name, self.handler, self.fixtures = name, handler, fixtures
        self.stack = STACKS[name]
        self.environ = make_environ(fixtures.headers[name], self.stack.path)

    def environs(self, n: int) -> list[dict[str, Any]]:
        """n environs, prepared before timing (a fresh signed proof each for the device stack)."""
        if not self.stack.per_request_proof:
            return [self.environ] * n
        return [{**self.environ, "HTTP_DPOP": proof} for proof in self.fixtures.proofs(n, IN_PROCESS_URL)]

    def one(self) -> Any:
        response = self.handler(self.environs(1)[0].copy(), _start_response)
        response.content  # noqa: B018  (consume)
        response.close()  # sends request_finished, as a WSGI server does
        check_response(self.name, response)
        return response

    def timed(self, n: int, cpu: Callable[[], int] | None) -> tuple[float, float | None]:
        """(wall us/request, CPU us/request) over n requests; every response is checked."""
        if n <= 0:  # --warmup 0
            return 0.0, None
        environs = self.environs(n)
        handler, start_response, name = self.handler, _start_response, self.name
        expected = stacks.expected_body(name)
        gc.collect()
        cpu0 = cpu() if cpu else 0
        t0 = time.perf_counter_ns()
        for environ in environs:
            response = handler(environ.copy(), start_response)
            if response.status_code != 200 or response.content != expected or (name != "noauth" and response.cookies):
                check_response(name, response)  # raises with details
            response.close()
        elapsed = time.perf_counter_ns() - t0
        used = (cpu() - cpu0) / n / 1000.0 if cpu else None
        return elapsed / n / 1000.0, used


def probe_queries(driver: Driver) -> list[str]:
    """The SQL of one request (CaptureQueriesContext forces the debug cursor just for this)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        driver.one()
    return [q["sql"] for q in ctx.captured_queries]


def is_write(sql: str) -> bool:
    text = sql.lstrip()
    if text.startswith(("EXECUTE byo_hot_", "PREPARE byo_hot_")):  # selectors: the read that records a proof writes
        from byo_sessions import selectors

        return f"byo_hot_{selectors._plan('default').read_recording_proof.digest}_" in text.split("(", 1)[0]
    head = text.split(None, 1)[0].upper() if text else ""
    return head in ("INSERT", "UPDATE", "DELETE")


def check_queries(name: str, queries: list[str]) -> None:
    """Stacks with a fixed count run exactly that, and write what they should."""
    stack = STACKS[name]
    writes = sum(is_write(sql) for sql in queries)
    listing = "\n  ".join(queries) or "(none)"
    if stack.queries is not None and len(queries) != stack.queries:
        raise AssertionError(f"{name}: expected {stack.queries} queries, got {len(queries)}:\n  {listing}")
    if stack.writes is not None and writes != stack.writes:
        raise AssertionError(f"{name}: expected {stack.writes} writes, got {writes}:\n  {listing}")
    if name == "stock" and [_from_table(q) for q in queries] != ["django_session", "auth_user"]:
        raise AssertionError(f"stock: expected a SELECT from django_session then auth_user:\n  {listing}")
    if name in ("byo", "byo_rules", "one_query") and not _reads_hot_row(queries[0]):
        raise AssertionError(f"{name}: expected the hot SELECT of byo_sessions_session:\n  {listing}")


def _reads_hot_row(sql: str) -> bool:
    """The SELECT of byo_sessions_session, or that statement run prepared (selectors._fetch_hot_row)."""
    text = sql.lstrip()
    if text.startswith("EXECUTE byo_hot_"):
        return ";" not in text
    if text.startswith("PREPARE byo_hot_"):  # its select list holds "EXTRACT(EPOCH FROM ...)"
        text = text.partition(" AS ")[2]
        return text.upper().startswith("SELECT") and ' FROM "byo_sessions_session" ' in text
    return text.upper().startswith("SELECT") and _from_table(text) == "byo_sessions_session"


def _from_table(sql: str) -> str:
    after = sql.partition(" FROM ")[2].split()
    return after[0].strip('"`') if after else ""


def _per_call(n: int, func: Callable[[], None]) -> float:
    """Microseconds per call of func over n calls, after up to 200 untimed ones."""
    for _ in range(min(n, 200)):
        func()
    gc.collect()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        func()
    return (time.perf_counter_ns() - t0) / n / 1000.0


def reference_queries(n: int, token: str) -> list[tuple[str, float]]:
    """Microseconds per call for the database work alone (no HTTP, not part of the ratio)."""
    from django.db import connection

    from byo_sessions import selectors
    from byo_sessions.core.tokens import hash_token

    token_hash = hash_token(token)

    def select_1() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def byo_selector() -> None:
        assert selectors.session_by_token_hash(token_hash) is not None

    results = [
        ("cursor SELECT 1 (round-trip floor)", _per_call(n, select_1)),
        ("byo selectors.session_by_token_hash (the hot row, as served)", _per_call(n, byo_selector)),
    ]
    spread = spread_hot_row(n)
    if spread is not None:
        results.append((f"the hot row of {flatness.SPREAD_SAMPLE} random sessions of the table, in turn", spread))
    return results


def spread_hot_row(n: int) -> float | None:
    """Microseconds per read of the hot rows of 1,000 sessions picked at random from the
    table, read in turn (``flatness.time_hot_rows``); None while the table holds fewer."""
    sample = flatness.random_token_hashes(flatness.SPREAD_SAMPLE)
    return flatness.time_hot_rows(sample, n) if sample else None


def profile(driver: Driver, n: int) -> None:
    """pyinstrument (the bench extra) over n requests of one stack, else cProfile."""
    environs = driver.environs(n)
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None  # type: ignore[assignment,misc]
    if Profiler is not None:
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for environ in environs:
            driver.handler(environ.copy(), _start_response).close()
        profiler.stop()
        print(f"\npyinstrument, {n} requests of {driver.name}:")
        print(profiler.output_text(unicode=False, color=False, show_all=False))
        return
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for environ in environs:
        driver.handler(environ.copy(), _start_response).close()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(r"byo_sessions", 25)
    print(f"\ncProfile, {n} requests of {driver.name}: top cumulative entries under byo_sessions")
    print(out.getvalue())


# --- the run --------------------------------------------------------------------------------


@dataclass
class InProcess:
    wall: dict[str, float]  # median over rounds, us/request
    spread: dict[str, tuple[float, float]]
    cpu: dict[str, float | None]
    queries: dict[str, list[str]]
    ratios: dict[str, list[float]]  # per round, to stock


def _median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def run_in_process(args: argparse.Namespace, drivers: dict[str, Driver]) -> InProcess:
    from benchmarks.stacks import backend_cpu_reader

    cpu = backend_cpu_reader()
    for driver in drivers.values():  # correctness first, then warm-up
        driver.one()
    for driver in drivers.values():
        driver.timed(args.warmup, None)
    queries = {name: probe_queries(driver) for name, driver in drivers.items()}
    for name, sql in queries.items():
        check_queries(name, sql)

    wall: dict[str, list[float]] = {name: [] for name in drivers}
    used: dict[str, list[float | None]] = {name: [] for name in drivers}
    for _round in range(args.rounds):
        for name, driver in drivers.items():
            if driver.stack.per_request_proof:
                driver.fixtures.fresh_challenge()
            micros, cpu_micros = driver.timed(args.requests, cpu)
            wall[name].append(micros)
            used[name].append(cpu_micros)
    ratios = (
        {name: [w / s for w, s in zip(wall[name], wall["stock"], strict=True)] for name in drivers}
        if "stock" in drivers
        else {}
    )
    return InProcess(
        wall={n: statistics.median(v) for n, v in wall.items()},
        spread={n: (min(v), max(v)) for n, v in wall.items()},
        cpu={n: _median_or_none(v) for n, v in used.items()},
        queries=queries,
        ratios=ratios,
    )


def print_in_process(result: InProcess) -> None:
    stock = result.wall.get("stock")
    stock_cpu = result.cpu.get("stock")
    print(
        f"\nIN PROCESS  {'stack':<11} {'us/req':>8} {'min':>8} {'max':>8} {'cpu us':>8} {'q/req':>5} "
        f"{'w/req':>5} {'/stock':>6} {'round med':>9} {'cpu/stock':>9}  target"
    )
    for name, micros in result.wall.items():
        low, high = result.spread[name]
        queries = result.queries[name]
        writes = sum(is_write(sql) for sql in queries)
        cpu = result.cpu[name]
        ratio = f"{micros / stock:.2f}" if stock else "-"
        per_round = f"{statistics.median(result.ratios[name]):.2f}" if result.ratios else "-"
        cpu_ratio = f"{cpu / stock_cpu:.2f}" if cpu is not None and stock_cpu else "-"
        target = TARGETS.get(name)
        verdict = ""
        if target is not None and result.ratios:
            verdict = f"<= {target:.2f} {'met' if statistics.median(result.ratios[name]) <= target else 'NOT met'}"
        print(
            f"            {name:<11} {micros:>8.1f} {low:>8.1f} {high:>8.1f} "
            f"{(f'{cpu:.1f}' if cpu is not None else '-'):>8} {len(queries):>5} {writes:>5} {ratio:>6} "
            f"{per_round:>9} {cpu_ratio:>9}  {verdict}"
        )
    if stock and "one_query" in result.wall and "byo" in result.wall:
        extra = result.wall["byo"] - result.wall["one_query"]
        print(
            f"  one_query is a reference, not a scheme: our one SELECT through Django's cursor with nothing "
            f"around it ({result.wall['one_query'] / stock:.2f} of stock); ours, steady, adds {extra:.0f} us to it"
        )
    if result.ratios:
        for name in TARGETS:
            if name in result.ratios:
                print(f"  {name} / stock per round: {' '.join(f'{r:.2f}' for r in result.ratios[name])}")
    for name in ("stock", "byo", "byo_device", "knox", "allauth"):
        for sql in result.queries.get(name, []):
            print(f"  {name} SQL: {sql[:140]}{'...' if len(sql) > 140 else ''}")


def machine_facts() -> str:
    load = os.getloadavg()
    cpus = os.cpu_count()
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpus} CPUs ({model}), load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per stack per round (1000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5); the median is reported")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests per stack (200)")
    parser.add_argument("--only", help="comma-separated stacks (stock is always added for the ratio)")
    db = parser.add_mutually_exclusive_group()
    db.add_argument(
        "--postgres",
        metavar="HOST:PORT",
        help="use this PostgreSQL server (a temporary database is created and dropped)",
    )
    db.add_argument("--sqlite", action="store_true", help="use a temporary SQLite file")
    parser.add_argument(
        "--pgname",
        metavar="DB",
        help="with --postgres: use this existing (for example pre-seeded) database as it "
        "is; it is migrated and gets the bench's user and logins, never dropped",
    )
    parser.add_argument("--pg-user", default="postgres", help="PostgreSQL user (postgres); PGPASSWORD is honoured")
    parser.add_argument(
        "--profile",
        nargs="?",
        type=int,
        const=2000,
        default=0,
        metavar="N",
        help="afterwards, profile N requests of --profile-stack (pyinstrument if installed)",
    )
    parser.add_argument("--profile-stack", default="byo", help="the stack --profile runs (byo)")
    parser.add_argument("--http", action="store_true", help="also measure over HTTP: gunicorn + wrk on loopback")
    parser.add_argument("--http-secs", type=float, default=4.0, help="wrk duration per stack per round (4)")
    parser.add_argument("--http-rounds", type=int, default=3, help="HTTP rounds (3)")
    parser.add_argument("--http-workers", type=int, default=2, help="gunicorn sync workers (2)")
    parser.add_argument("--http-connections", type=int, default=2, help="wrk connections (2)")
    parser.add_argument(
        "--flat",
        action="store_true",
        help="afterwards, the flatness figure: copies of the database seeded to 10,000 and 1,000,000 "
        "sessions, stock and ours measured on them in alternation (PostgreSQL; about 6 minutes more)",
    )
    parser.add_argument(
        "--flat-sizes",
        type=flatness.parse_sizes,
        metavar="N,M",
        help="with --flat: the table sizes, ascending (10000,1000000)",
    )
    parser.add_argument(
        "--flat-rounds",
        type=int,
        help=f"with --flat: rounds, each visiting every size ({flatness.DEFAULT_ROUNDS})",
    )
    args = parser.parse_args(argv)
    if (
        args.requests < 1
        or args.rounds < 1
        or args.warmup < 0
        or (args.flat_rounds is not None and args.flat_rounds < 1)
    ):
        parser.error("--requests, --rounds and --flat-rounds must be >= 1, --warmup >= 0")
    if args.pgname and not args.postgres:
        parser.error("--pgname needs --postgres HOST:PORT")
    if args.flat and (args.sqlite or args.pgname):
        parser.error("--flat seeds a database of its own: PostgreSQL, without --sqlite or --pgname")
    if not args.flat and (args.flat_sizes is not None or args.flat_rounds is not None):
        parser.error("--flat-sizes and --flat-rounds go with --flat")
    args.flat_sizes = args.flat_sizes or flatness.DEFAULT_SIZES
    args.flat_rounds = flatness.DEFAULT_ROUNDS if args.flat_rounds is None else args.flat_rounds
    names = list(STACKS)
    if args.only:
        wanted = {n.strip() for n in args.only.split(",") if n.strip()} | {"stock"}
        unknown = wanted - set(STACKS)
        if unknown:
            parser.error(f"unknown stacks {sorted(unknown)}; known: {', '.join(STACKS)}")
        names = [n for n in STACKS if n in wanted]
    args.names = names
    return args


def run(args: argparse.Namespace, cleanup: Cleanup) -> int:
    where = configure_database(args, cleanup)
    setup_django()
    import django
    from django.conf import settings

    assert not settings.DEBUG, "DEBUG must be False while timing"
    fixtures = stacks.make_fixtures(IN_PROCESS_URL)
    handlers = stacks.build_handlers(args.names)
    drivers = {name: Driver(name, handlers[name], fixtures) for name in args.names}
    steady = [n for n in ("byo", "byo_rules") if n in drivers]
    before = {n: stacks.byo_row_snapshot(fixtures.byo_session_ids[n]) for n in steady}

    print(
        f"byo_sessions request benchmark: Django {django.get_version()}, Python {sys.version.split()[0]}, "
        f"{where}; {stacks.session_count()} byo sessions in the table"
    )
    print(f"machine: {machine_facts()}")
    print(
        f"in process: {args.rounds} interleaved rounds x {args.requests} requests per stack, {args.warmup} "
        "warm-up; DEBUG=False, persistent DB connection; ours on its steady path "
        "(ROTATION_INTERVAL_SECS=None, TOUCH_INTERVAL_SECS=3600)"
    )
    result = run_in_process(args, drivers)
    for name in steady:  # the steady path really was steady: same token, no touch, still live
        drivers[name].one()
        after = stacks.byo_row_snapshot(fixtures.byo_session_ids[name])
        if after != before[name]:
            raise AssertionError(f"{name}: the session row changed during the run: {before[name]!r} -> {after!r}")
    print_in_process(result)

    if "byo" in drivers:
        print("\nreference, database work only (not part of the ratio):")
        token = fixtures.headers["byo"]["HTTP_COOKIE"].partition("=")[2]
        for label, micros in reference_queries(args.requests, token):
            print(f"  {micros:>8.1f} us  {label}")

    if args.http:
        from benchmarks import http_load

        http_load.run(args, fixtures, cleanup)
    if args.flat:
        sizes = flatness.seed_copies(args, cleanup)
        flatness.measure(args, drivers, sizes, lambda name, driver: check_queries(name, probe_queries(driver)))
        flatness.report(sizes)
    if args.profile:
        profile(drivers[args.profile_stack], args.profile)
    print(f"\nmachine at the end: {machine_facts()}")
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
