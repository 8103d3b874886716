"""``manage.py byo_prune``: delete what is dead, in committed batches (``services/pruning.py``).

Ended and expired sessions are kept for inspection until they are older than ``--days``
(visitors' expired data-only sessions go at once), retired tokens for
``--retired-token-days``, audit events for ``--audit-days`` (default: kept). The defaults
come from the ``PRUNE_*`` settings. Django's ``clearsessions`` does the same with them.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...services import pruning

LABELS = {
    "sessions": "row(s) of dead sessions (with their tags and retired tokens)",
    "retired_tokens": "retired token(s)",
    "proofs": "spent proof id(s)",
    "signing_keys": "expired signing key(s)",
    "audit_events": "audit event(s)",
}
COUNTED = {**LABELS, "sessions": "dead session(s)"}


class Command(BaseCommand):
    help = (
        "Delete sessions that ended or expired long ago, old retired tokens, spent proof ids, expired signing "
        "keys and (with --audit-days) old audit events, in batches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="keep dead sessions this many days (default: PRUNE_SESSIONS_AFTER_DAYS, 30)",
        )
        parser.add_argument(
            "--retired-token-days",
            type=int,
            default=None,
            help="keep retired tokens this many days (default: PRUNE_RETIRED_TOKENS_AFTER_DAYS, 30)",
        )
        parser.add_argument(
            "--audit-days",
            type=int,
            default=None,
            help="delete audit events older than this (default: PRUNE_AUDIT_AFTER_DAYS; none: keep)",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=pruning.DEFAULT_BATCH_SIZE,
            help=f"rows per committed batch (default {pruning.DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("days", "retired_token_days", "audit_days"):
            if options[name] is not None and options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} {options[name]} must be 0 or more.")
        if options["batch_size"] < 1:
            raise CommandError(f"--batch-size {options['batch_size']} must be at least 1.")
        defaults = pruning.Retention.from_settings()
        retention = pruning.Retention(
            session_days=defaults.session_days if options["days"] is None else options["days"],
            retired_token_days=(
                defaults.retired_token_days if options["retired_token_days"] is None else options["retired_token_days"]
            ),
            audit_days=defaults.audit_days if options["audit_days"] is None else options["audit_days"],
        )
        if options["dry_run"]:
            counts = pruning.count(retention=retention)
            self.stdout.write(
                "Would delete "
                + ", ".join(f"{counts[kind]} {COUNTED[kind]}" for kind in pruning.KINDS if kind in counts)
                + "."
            )
            return
        tty = bool(getattr(self.stdout, "isatty", lambda: False)())
        shown: dict[str, int] = {}

        def progress(kind: str, so_far: int) -> None:
            if tty:
                self.stdout.write(f"\r{kind}: {so_far} deleted", ending="")
                self.stdout.flush()
            elif so_far >= shown.get(kind, 0) + 100_000:  # a plain line per 100,000 rows
                shown[kind] = so_far
                self.stdout.write(f"{kind}: {so_far} row(s) deleted so far.")

        done = pruning.prune(retention=retention, batch_size=options["batch_size"], progress=progress)
        if tty:
            self.stdout.write("")
        self.stdout.write(
            "Deleted " + ", ".join(f"{done[kind]} {LABELS[kind]}" for kind in pruning.KINDS if kind in done) + "."
        )
