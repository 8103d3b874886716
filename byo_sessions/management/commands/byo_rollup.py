"""``manage.py byo_rollup``: keep the daily rollups the overview's 7 and 30 days read
(``services/rollups.py``). Run it once a day, shortly after midnight UTC (cron); running it
again, or for days already rolled up, is safe: each day is recounted whole and replaced.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...core import clock
from ...services import rollups


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--date {text!r} is not a day like 2026-11-28.") from None


class Command(BaseCommand):
    help = (
        "Roll up the audit trail per day for the admin overview: the closed days of the last --days without "
        "a rollup, and the last --recompute days again (or exactly the --date days)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=rollups.DEFAULT_DAYS,
            help=f"closed days looked at, back from yesterday (default {rollups.DEFAULT_DAYS})",
        )
        parser.add_argument(
            "--recompute",
            type=int,
            default=rollups.DEFAULT_RECOMPUTE,
            help=f"recount the last N closed days even if rolled up (default {rollups.DEFAULT_RECOMPUTE})",
        )
        parser.add_argument(
            "--date", action="append", default=[], metavar="YYYY-MM-DD", help="recount this day (repeatable)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("days", "recompute"):
            if options[name] < 0:
                raise CommandError(f"--{name} {options[name]} must be 0 or more.")
        days = [_day(text) for text in options["date"]]
        not_closed = [day for day in days if day >= rollups.today(clock.now())]
        if not_closed:
            raise CommandError(f"--date {not_closed[0]} is not over yet (UTC): only closed days are rolled up.")
        result = rollups.roll_up(days=options["days"], recompute=options["recompute"], only=days)
        self.stdout.write(f"Rolled up {len(result.rolled)} day(s)" + _span(result.rolled) + ".")
        if result.kept:
            self.stdout.write(
                f"Kept the rollup of {len(result.kept)} day(s){_span(result.kept)}: their audit rows were pruned."
            )


def _span(days: list[date]) -> str:
    if not days:
        return ""
    return f" ({days[0]})" if len(days) == 1 else f" ({days[0]} to {days[-1]})"
