"""What the admin overview (``byo_sessions.stats.overview``) costs at N sessions on PostgreSQL.

Seeds N sessions (a third ended; one org tag and one of five browsers each; N/10 users)
and 4*N audit rows spread over the last 30 days with one INSERT ... SELECT each (not the
services: only the row counts and shapes matter here), then times each window's overview,
uncached, three times, first counted live from the audit rows, then after ``byo_rollup``
(timed too) from the daily rollups, and prints the median and each statement's own time;
and the admin's search by browser (one page of the newest 100, and the capped count).
Every line carries the load average. Performance is measured here only; the tests count
queries, never time.

    .venv/bin/python benchmarks/bench_overview.py --postgres 127.0.0.1:5432 --sessions 100000
    .venv/bin/python benchmarks/bench_overview.py                 # throwaway PostgreSQL
"""

from __future__ import annotations

import argparse
import atexit
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_requests import Cleanup, configure_database, setup_django  # noqa: E402

SESSIONS_SQL = """
INSERT INTO byo_sessions_session (id, user_id, token_hash, generation, token_issued_at, created_at,
    last_activity_at, expires_at, ended_at, end_reason, ended_by, ip_address, last_ip_address, user_agent,
    last_user_agent, client, tags, metadata, device_thumbprint, data, authenticated_at, authentication_factors,
    reauthentication_failures, country, city, network)
SELECT 'ses_' || g, %(base)s + (g %% %(users)s), md5(g::text) || md5((g + 1)::text), 0, now(),
    now() - (g %% 43200) * interval '1 minute', now() - (g %% 600) * interval '1 minute',
    now() + interval '14 days' - (g %% 43200) * interval '1 minute',
    CASE WHEN g %% 3 = 0 THEN now() - (g %% 1000) * interval '1 minute' END,
    CASE WHEN g %% 3 = 0 THEN (ARRAY['logout', 'admin', 'expired_inactivity'])[1 + g %% 3] ELSE '' END, '',
    ('10.0.' || (g %% 200) || '.' || (g %% 250))::inet, ('10.0.' || (g %% 200) || '.' || (g %% 250))::inet, '', '',
    jsonb_build_object('browser', (ARRAY['Chrome', 'Firefox', 'Safari', 'Edge', 'Mobile Safari'])[1 + g %% 5]),
    jsonb_build_array('org:' || (g %% 100)), '{}'::jsonb, '', '', now(), '{}'::jsonb, 0, '', '', ''
FROM generate_series(1, %(n)s) g"""

AUDIT_SQL = """
INSERT INTO byo_sessions_auditevent (created_at, event_type, session_id, user_ref, ip_address, user_agent, reason,
    actor, details, country, city, network)
SELECT now() - (g %% 43200) * interval '1 minute',
    (ARRAY['session_created', 'session_invalidated', 'validation_failed', 'session_rotated', 'ip_changed',
           'new_device_detected'])[1 + g %% 6],
    'ses_' || (g %% %(n)s), ((g %% %(users)s) + %(base)s)::text, ('10.0.' || (g %% 200) || '.' || (g %% 250))::inet,
    '', CASE WHEN g %% 6 = 1 THEN 'logout' ELSE '' END, '', '{}'::jsonb, '', '', ''
FROM generate_series(1, %(events)s) g"""


def seed(n: int) -> None:
    from django.db import connection

    users = max(n // 10, 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, "
            "is_staff, is_active, date_joined) SELECT '', false, 'u' || g, '', '', '', false, true, now() "
            "FROM generate_series(1, %s) g",
            [users],
        )
        cursor.execute("SELECT min(id) FROM auth_user")
        base = cursor.fetchone()[0]
        params = {"n": n, "users": users, "base": base, "events": 4 * n}
        cursor.execute(SESSIONS_SQL, params)
        cursor.execute(
            "INSERT INTO byo_sessions_sessiontag (session_id, tag) SELECT id, tags->>0 FROM byo_sessions_session"
        )
        cursor.execute(AUDIT_SQL, params)
        cursor.execute("ANALYZE")


COUNT_CAP = 10_000  # admin/scale.py's cap on a filtered changelist's count


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"[load {one:.2f} / {five:.2f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions to seed (100000); audit rows: 4x")
    parser.add_argument("--postgres", metavar="HOST:PORT", help="use this server (a temporary database is made)")
    parser.add_argument("--pg-user", default="postgres")
    args = parser.parse_args(argv)
    args.sqlite, args.pgname = False, None  # always a new database, seeded here
    cleanup = Cleanup()
    atexit.register(cleanup.run)
    try:
        print(configure_database(args, cleanup), flush=True)
        setup_django()
        from django.db import connection
        from django.db.models import Q
        from django.db.models.lookups import Exact
        from django.test.utils import CaptureQueriesContext

        from byo_sessions import stats
        from byo_sessions.models import BrowserFamily, Session
        from byo_sessions.services import rollups

        started = time.perf_counter()
        seed(args.sessions)
        print(
            f"seeded {args.sessions} sessions and {4 * args.sessions} audit rows in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        for use_rollups in (False, True):
            if use_rollups:
                began = time.perf_counter()
                result = rollups.roll_up()
                print(
                    f"byo_rollup: {len(result.rolled)} days in {time.perf_counter() - began:.1f} s {load()}",
                    flush=True,
                )
            for key in stats.WINDOWS:
                times = []
                for _ in range(3):
                    with CaptureQueriesContext(connection) as queries:
                        began = time.perf_counter()
                        stats.overview(window_key=key, use_rollups=use_rollups)
                        times.append(time.perf_counter() - began)
                print(
                    f"overview {key} {'from rollups' if use_rollups else 'live'}: "
                    f"median {statistics.median(times) * 1000:.0f} ms "
                    f"(min {min(times) * 1000:.0f}) in {len(queries)} queries {load()}; per query (last run, ms): "
                    + ", ".join(f"{float(q['time']) * 1000:.0f}" for q in queries.captured_queries),
                    flush=True,
                )
        for term in ("firefox", "Mobile Safari"):
            times = []
            for _ in range(3):
                began = time.perf_counter()
                # The admin's search for a term that names no user (admin.session_or_browser_search;
                # the admin package itself needs django.contrib.admin, not installed here).
                found = Session.objects.filter(
                    Q(user_id__in=[]) | Q(external_user_id=term) | Q(Exact(BrowserFamily(), term.lower()))
                ).order_by("-created_at", "-id")
                page = list(found.values_list("id", flat=True)[:100])
                capped = found.order_by()[: COUNT_CAP + 1].count()
                times.append(time.perf_counter() - began)
            print(
                f"search {term!r}: {len(page)} shown, {capped} counted (cap {COUNT_CAP}), "
                f"median {statistics.median(times) * 1000:.0f} ms {load()}",
                flush=True,
            )
    finally:
        cleanup.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
