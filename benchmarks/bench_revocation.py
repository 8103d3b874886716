#!/usr/bin/env python
"""What the revocation check costs per verification of a stateless token.

Run from the repository root:

    .venv/bin/python benchmarks/bench_revocation.py [--verifications N] [--rounds R]
                                                    [--redis redis://127.0.0.1:6379/0]

One process, a temporary SQLite database (the keys are read once, then cached: no query
is timed). ``sessions.verify_stateless_token`` is timed on one token minted from a live
session, interleaved per round:

* ``off``     the check off (``check_revocation=False``): signature and claims only,
* ``locmem``  the check on, ``STATELESS_REVOCATION_CACHE`` a ``LocMemCache``,
* ``redis``   the check on, a ``RedisCache`` (``--redis URL``; without it, a throwaway
              ``redis-server`` on a free port when one is installed, else skipped).

Every verification is checked (``Ok`` with the session's ``sid``), and one extra run per
variant counts the cache reads (1) and the queries (0). Prints the median per round of
the mean microseconds per verification, and the check's cost over ``off``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: str) -> tuple[str, subprocess.Popen[bytes]] | None:
    server = shutil.which("redis-server")
    if server is None:
        return None
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    import redis

    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            return f"redis://127.0.0.1:{port}/0", process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.terminate()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verifications", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", help="an existing Redis (default: a throwaway redis-server)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="byo-bench-revocation-")
    redis_process = None
    redis_url = args.redis
    if redis_url is None:
        started = start_redis(workdir)
        if started is not None:
            redis_url, redis_process = started
    try:
        run(args, workdir, redis_url)
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, workdir: str, redis_url: str | None) -> None:
    os.environ["BYO_BENCH_SQLITE"] = os.path.join(workdir, "bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django
    from django.conf import settings

    caches_config: dict[str, Any] = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "revocation"},
    }
    if redis_url:
        caches_config["redis"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    settings.CACHES = caches_config
    django.setup()
    from django.core.cache import caches
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from byo_sessions import sessions

    call_command("migrate", verbosity=0)
    created = sessions.create(external_user_id="bench-user").data
    token = sessions.create_stateless_token(session_id=created.session_id, lifetime_secs=3600).data.stateless_token
    ended = sessions.create(external_user_id="bench-user").data
    caches["locmem"].set("byo_sessions:ended:" + ended.session_id, 1, 3600)  # a non-empty record set

    variants: list[tuple[str, str | None]] = [("off", None), ("locmem", "locmem")]
    if redis_url:
        variants.append(("redis", "redis"))
    else:
        print("redis: skipped (no --redis and no redis-server on PATH)")

    def verifier(alias: str | None) -> Callable[[], None]:
        check = alias is not None

        def verify() -> None:
            result = sessions.verify_stateless_token(token, check_revocation=check)
            assert result.__class__.__name__ == "Ok" and result.data["sid"] == created.session_id, result

        return verify

    def settings_for(alias: str | None) -> dict[str, Any]:
        return {**getattr(settings, "BYO_SESSIONS", {}), "STATELESS_REVOCATION_CACHE": alias or "locmem"}

    for name, alias in variants:  # one probe each: the reads and queries a verification costs
        with override_settings(BYO_SESSIONS=settings_for(alias)):
            verifier(alias)()  # warm (keys read and cached)
            reads = []
            cache = caches[alias] if alias else None
            if cache is not None:
                real_get = cache.get
                cache.get = lambda key, default=None, version=None, reads=reads, real_get=real_get: (  # type: ignore
                    reads.append(key) or real_get(key, default, version)
                )
            with CaptureQueriesContext(connection) as queries:
                verifier(alias)()
            if cache is not None:
                del cache.get
            assert len(queries.captured_queries) == 0, queries.captured_queries
            assert len(reads) == (1 if alias else 0), reads
            print(f"{name:7s} probe: {len(queries.captured_queries)} queries, {len(reads)} cache read(s)")

    results: dict[str, list[float]] = {name: [] for name, _ in variants}
    for _round in range(args.rounds):
        for name, alias in variants:
            with override_settings(BYO_SESSIONS=settings_for(alias)):
                verify = verifier(alias)
                for _ in range(100):
                    verify()
                start = time.perf_counter_ns()
                for _ in range(args.verifications):
                    verify()
                elapsed = time.perf_counter_ns() - start
            results[name].append(elapsed / args.verifications / 1000)

    off = statistics.median(results["off"])
    print(f"\n{'variant':8s} {'median us/verify':>17s} {'min':>8s} {'max':>8s} {'check costs':>12s}")
    for name, _alias in variants:
        values = results[name]
        median = statistics.median(values)
        extra = "" if name == "off" else f"{median - off:+10.1f} us"
        print(f"{name:8s} {median:17.1f} {min(values):8.1f} {max(values):8.1f} {extra:>12s}")
    if redis_url:  # the floor of the Redis variant: one round trip, no Django, no pickling
        import redis

        client = redis.Redis.from_url(redis_url)
        start = time.perf_counter_ns()
        for _ in range(args.verifications):
            client.ping()
        ping = (time.perf_counter_ns() - start) / args.verifications / 1000
        print(f"reference: a bare redis-py PING round trip {ping:.1f} us")
    print(f"\n{args.rounds} rounds x {args.verifications} verifications; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
