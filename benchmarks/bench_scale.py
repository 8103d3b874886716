"""Operator tooling at scale (docs/benchmarks.md, "Operator tooling at 1M sessions").

Run against a PostgreSQL database seeded with ``manage.py byo_seed`` (settings
``benchmarks.scale_settings``; ``BYO_BENCH_POSTGRES=host:port``, ``BYO_BENCH_PGNAME``):

    bench_scale.py admin                       # each admin page: median of 3 views
    bench_scale.py run --tag org:1 -- <command and args>
        # starts a process that serves authenticated requests of live sessions of the
        # selection (org:1, or any with --any) through the full middleware stack, runs the
        # command under /usr/bin/time -v, and prints the command's wall time, peak memory and
        # the requests' latency (max, p99) while it ran.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.scale_settings")


def _setup() -> None:
    import django

    django.setup()


def _tokens(tag: str | None, seed: int, limit: int) -> list[str]:
    """Tokens of live seeded sessions (of ``tag`` when given)."""
    from byo_sessions.core.tokens import hash_token
    from byo_sessions.models import Session, SessionTag
    from byo_sessions.services import seeding

    live = Session.objects.filter(ended_at__isnull=True, expires_at__gt=time_now())
    if tag:
        live = live.filter(id__in=SessionTag.objects.filter(tag=tag).values("session_id"))
    wanted = set(live.order_by("?").values_list("token_hash", flat=True)[:limit])
    tokens = []
    index = 0
    total = Session.objects.count()
    while len(tokens) < len(wanted) and index < total * 2:
        token = seeding.seed_token(seed, index)
        if hash_token(token) in wanted:
            tokens.append(token)
        index += 1
    return tokens


def _ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"


def time_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def serve(tokens: list[str], stop: Any, out: str) -> None:
    """Authenticated requests, round robin over ``tokens``, until ``stop`` is set."""
    _setup()
    from django.conf import settings
    from django.test import Client

    client = Client()
    latencies: list[tuple[float, float]] = []
    random.shuffle(tokens)
    i = 0
    while not stop.is_set():
        client.cookies[settings.SESSION_COOKIE_NAME] = tokens[i % len(tokens)]
        started = time.perf_counter()
        client.get("/whoami/", REMOTE_ADDR="10.1.0.1", HTTP_USER_AGENT="bench")
        latencies.append((time.time(), time.perf_counter() - started))
        i += 1
    Path(out).write_text(json.dumps(latencies))


def run(args: argparse.Namespace) -> None:
    _setup()
    tokens = _tokens(None if args.any else args.tag, args.seed, args.sessions)
    print(f"requests over {len(tokens)} live session(s) of {'any tag' if args.any else args.tag}", flush=True)
    stop = multiprocessing.Event()
    out = f"/tmp/bench_scale_{os.getpid()}.json"
    server = multiprocessing.Process(target=serve, args=(tokens, stop, out))
    server.start()
    time.sleep(3)
    started = time.time()
    result = subprocess.run(["/usr/bin/time", "-v", *args.command], capture_output=True, text=True)
    finished = time.time()
    time.sleep(2)
    stop.set()
    server.join()
    print(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "(no output)")
    for line in result.stderr.splitlines():
        if "Elapsed (wall clock)" in line or "Maximum resident set size" in line:
            print(line.strip())
    if result.returncode:
        print(result.stderr[-2000:])
    latencies = json.loads(Path(out).read_text())
    during = sorted(d for t, d in latencies if started <= t <= finished + 1)
    if during:
        p99 = during[int(len(during) * 0.99) - 1] if len(during) >= 100 else during[-1]
        print(
            f"requests during the run: {len(during)}, median {statistics.median(during) * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, max {during[-1] * 1000:.1f} ms"
        )


def admin(args: argparse.Namespace) -> None:
    _setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from byo_sessions import selectors, stats
    from byo_sessions.models import AuditEvent, Session

    started = time.perf_counter()
    selectors.session_counts(time_now())
    print(f"sessions list header counts (selectors.session_counts) alone: {_ms(started)}")
    for key in stats.WINDOWS:
        if args.without_overview and key != "24h":
            continue
        started = time.perf_counter()
        stats.overview(window_key=key)
        print(f"overview {key} (stats.overview, uncached): {_ms(started)}")
    # The pages below see the overview as a warm cache would serve it (OVERVIEW_CACHE_SECS).
    if args.without_overview:
        day = stats.overview(window_key="24h")
        stats.cached_overview = lambda window_key="24h": day  # type: ignore[assignment]
    else:
        for key in stats.WINDOWS:
            stats.cached_overview(window_key=key)
    user_model = get_user_model()
    root = user_model._default_manager.filter(username="bench_root").first()
    if root is None:
        root = user_model._default_manager.create_superuser("bench_root", "root@example.org", "pw-bench-root")
    client = Client()
    client.force_login(root)
    session = Session.objects.filter(user__isnull=False).order_by("created_at").first()
    assert session is not None
    username = session.user.get_username() if session.user else ""
    pages = {
        "sessions list": "/admin/byo_sessions/session/",
        "sessions, page 50": "/admin/byo_sessions/session/?p=50",
        "sessions, ended by logout": "/admin/byo_sessions/session/?end_reason__exact=logout",
        "sessions, created in the last 7 days": "/admin/byo_sessions/session/?created_at__gte="
        + str(time_now().date() - timedelta(days=7)),
        "sessions, search username": f"/admin/byo_sessions/session/?q={username}",
        "sessions, search IP": f"/admin/byo_sessions/session/?q={session.last_ip_address}",
        "sessions, search session id": f"/admin/byo_sessions/session/?q={session.pk}",
        "session page": f"/admin/byo_sessions/session/{session.pk}/change/",
        "audit list": "/admin/byo_sessions/auditevent/",
        "audit, type session_rotated": "/admin/byo_sessions/auditevent/?event_type__exact=session_rotated",
        "audit, type validation_failed": "/admin/byo_sessions/auditevent/?event_type__exact=validation_failed",
        "audit, reason logout": "/admin/byo_sessions/auditevent/?reason=logout",
        "audit, search session id": f"/admin/byo_sessions/auditevent/?q={session.pk}",
        "audit, search user": f"/admin/byo_sessions/auditevent/?q={session.user_id}",
        "audit, search IP": f"/admin/byo_sessions/auditevent/?q={session.last_ip_address}",
        "devices list": "/admin/byo_sessions/device/",
        "admin index": "/admin/",
        "overview page (cached numbers)": "/admin/byo_sessions/session/overview/",
    }
    print(f"{Session.objects.count()} sessions, about {AuditEvent.objects.count()} audit rows")
    for label, url in pages.items():
        times = []
        for _ in range(3):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, (url, response.status_code)
        print(f"{label:<40} {statistics.median(times) * 1000:8.0f} ms   {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    pages = sub.add_parser("admin")
    pages.add_argument(
        "--without-overview",
        action="store_true",
        help="time only the 24-hour overview (the 7- and 30-day ones scan their window's audit rows)",
    )
    runner = sub.add_parser("run")
    runner.add_argument("--tag", default="org:1")
    runner.add_argument("--any", action="store_true", help="requests of any live sessions")
    runner.add_argument("--sessions", type=int, default=2000, help="sessions the request process cycles over")
    runner.add_argument("--seed", type=int, default=1)
    runner.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.what == "run":
        args.command = [c for c in args.command if c != "--"]
        run(args)
    else:
        admin(args)


if __name__ == "__main__":
    main()
