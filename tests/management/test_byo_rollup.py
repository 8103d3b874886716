"""``manage.py byo_rollup``: the daily rollups the overview reads (services/rollups.py)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from byo_sessions import sessions
from byo_sessions.core import clock as byo_clock
from byo_sessions.models import DailyCount

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def run(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def test_rolls_up_the_closed_days_then_only_recounts_the_last_two(user):
    byo_clock.freeze(NOW - timedelta(days=2))
    sessions.create(user_id=user.pk)
    byo_clock.freeze(NOW)
    assert run("byo_rollup", "--days", "5") == "Rolled up 5 day(s) (2026-11-15 to 2026-11-19).\n"
    assert run("byo_rollup", "--days", "5") == "Rolled up 2 day(s) (2026-11-18 to 2026-11-19).\n"
    assert DailyCount.objects.get(day="2026-11-18", kind="event").count == 1
    assert run("byo_rollup", "--date", "2026-11-18") == "Rolled up 1 day(s) (2026-11-18).\n"
    assert DailyCount.objects.filter(kind="day").count() == 5


def test_byo_stats_reads_the_rollups_and_live_ignores_them(user):
    byo_clock.freeze(NOW - timedelta(days=3))
    sessions.create(user_id=user.pk)
    byo_clock.freeze(NOW)
    run("byo_rollup")
    text = run("byo_stats", "--window", "7d")
    assert "New sessions                     1" in text and "from the daily rollups: 6 of 6." in text
    live = json.loads(run("byo_stats", "--window", "7d", "--json", "--live"))
    assert (live["days_from_rollups"], live["new_sessions"]["points"][-4]) == (0, 1)
    assert "rollups" not in run("byo_stats")  # 24 hours are counted per hour, live


def test_refuses_bad_days():
    byo_clock.freeze(NOW)
    with pytest.raises(CommandError, match="'yesterday' is not a day like"):
        run("byo_rollup", "--date", "yesterday")
    with pytest.raises(CommandError, match="2026-11-20 is not over yet"):
        run("byo_rollup", "--date", "2026-11-20")
    with pytest.raises(CommandError, match="--days -1 must be 0 or more"):
        run("byo_rollup", "--days", "-1")
