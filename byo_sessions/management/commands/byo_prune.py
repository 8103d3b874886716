"""``manage.py byo_prune``: delete long-dead sessions, old audit rows, spent proof ids and
signing keys that expired (left the JWKS) more than ``--days`` ago.

Ended and expired sessions are kept for inspection until they are older than
``--days`` (visitors' expired data-only sessions go at once); each kind of row goes in one
set-based DELETE. Django's ``clearsessions`` does the same with the defaults.
"""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...services.engine import prune


class Command(BaseCommand):
    help = "Delete sessions that ended or expired more than --days ago (and, optionally, old audit events)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30, help="keep dead sessions this many days (default 30)")
        parser.add_argument("--audit-days", type=int, default=None,
                            help="also delete audit events older than this many days (default: keep all)")

    def handle(self, *args: Any, **options: Any) -> None:
        pruned = prune(keep_days=options["days"], audit_days=options["audit_days"])
        message = (f"Deleted {pruned.sessions} row(s) of dead sessions, {pruned.proofs} spent proof id(s), "
                   f"{pruned.signing_keys} expired signing key(s)")
        if pruned.audit_events is not None:
            message += f", {pruned.audit_events} audit event(s)"
        self.stdout.write(message + ".")
