"""``manage.py byo_seed``: fill a database with users, devices, sessions, tag rows, retired tokens and
audit rows for load and benchmark work (``services/seeding.py``). Tokens derive from
``--seed``: benchmark databases only."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...services import seeding


class Command(BaseCommand):
    help = "Seed users and sessions whose tokens derive from --seed (benchmark databases only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=1000)
        parser.add_argument("--sessions", type=int, default=10_000)
        parser.add_argument("--orgs", type=int, default=100, help="tag org:<n>, n = user %% orgs")
        parser.add_argument(
            "--max-age-days",
            type=int,
            default=30,
            help="sessions were created up to this long ago (older than 14 days: expired)",
        )
        parser.add_argument("--ended-percent", type=int, default=30)
        parser.add_argument(
            "--device-percent",
            type=int,
            default=10,
            help="share of users with a device; their sessions are bound to it (need proofs)",
        )
        parser.add_argument("--seed", type=int, default=1, help="tokens and ids derive from it")
        parser.add_argument("--chunk", type=int, default=20_000, help="sessions per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("users", "sessions", "orgs", "max_age_days", "chunk"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} {options[name]} must be at least 1.")
        for name in ("ended_percent", "device_percent"):
            if not 0 <= options[name] <= 100:
                raise CommandError(f"--{name.replace('_', '-')} {options[name]} must be from 0 to 100.")
        plan = seeding.Plan(
            users=options["users"],
            sessions=options["sessions"],
            orgs=options["orgs"],
            max_age_days=options["max_age_days"],
            ended_percent=options["ended_percent"],
            device_percent=options["device_percent"],
            seed=options["seed"],
        )
        written = seeding.seed(
            plan, chunk=options["chunk"], progress=lambda done: self.stdout.write(f"{done} session(s) written.")
        )
        self.stdout.write("Seeded " + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in written.items()) + ".")
