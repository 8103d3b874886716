"""``manage.py byo_stats``: the admin overview's numbers as text or ``--json``.

Both come from ``byo_sessions.stats.overview`` (never cached here: an operator running
the command wants the numbers of this moment), which reads closed days from the daily
rollups (``byo_rollup``) where they exist; ``--live`` recounts them from the audit rows.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...stats import DEFAULT_WINDOW, WINDOWS, Overview, Ranked, Series, overview


class Command(BaseCommand):
    help = (
        "Print the session overview: active now, new sessions, logins, ended by reason, security events, tags, "
        "countries."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--window",
            choices=list(WINDOWS),
            default=DEFAULT_WINDOW,
            help=f"the period counted (default {DEFAULT_WINDOW})",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
        parser.add_argument(
            "--live", action="store_true", help="count every day from the audit rows, ignoring the daily rollups"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        numbers = overview(window_key=options["window"], use_rollups=not options["live"])
        if options["json"]:
            self.stdout.write(json.dumps(numbers.as_json(), indent=2, sort_keys=True))
            return
        self.stdout.write("\n".join(_text(numbers)))


def _series_lines(title: str, series: list[Series]) -> list[str]:
    lines = [title]
    shown = [s for s in series if s.total]
    width = max((len(s.label) for s in shown), default=0)
    lines += [f"  {s.label:<{width}}  {s.total:>8}" for s in shown] or ["  (none)"]
    return lines


def _ranked_lines(title: str, ranked: list[Ranked]) -> list[str]:
    width = max((len(r.label) for r in ranked), default=0)
    return [title] + ([f"  {r.label:<{width}}  {r.count:>8}" for r in ranked] or ["  (none)"])


def _text(o: Overview) -> list[str]:
    per = "hour" if o.bucket == "hour" else "day"
    lines = [
        f"Sessions overview, {o.label.lower()} ({o.since:%Y-%m-%d %H:%M} to {o.until:%Y-%m-%d %H:%M} UTC)",
        "",
        f"Active now                {o.active:>8}",
        f"Expired, not yet marked   {o.expired_unmarked:>8}",
        f"New sessions              {o.new_sessions.total:>8}   busiest {per}: {max(o.new_sessions.points)}",
        f"Logins                    {o.logins.total:>8}   busiest {per}: {max(o.logins.points)}",
        "",
    ]
    lines += _series_lines("Ended, by reason", o.ended) + [""]
    lines += _series_lines("Security events", o.security) + [""]
    lines += _ranked_lines("Active sessions by tag (top 10)", o.by_tag) + [""]
    lines += _ranked_lines("New sessions by country (top 10)", o.new_by_country) + [""]
    lines += _ranked_lines("Failed validations by user (top 10)", o.failed_by_user) + [""]
    lines += _ranked_lines("Failed validations by IP address (top 10)", o.failed_by_ip)
    if o.closed_days:
        lines += ["", f"Closed days from the daily rollups: {o.days_from_rollups} of {o.closed_days}."]
    return lines
