"""``manage.py byo_prune``: delete long-dead sessions, old audit rows, spent proof ids and
signing keys that expired (left the JWKS) more than ``--days`` ago.

Ended and expired sessions are kept for inspection until they are older than
``--days``; each kind of row goes in one set-based DELETE (like ``clearsessions``).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q

from ... import clock
from ...models import AuditEvent, Session, SigningKey
from ...services.devices import prune_used_proofs


class Command(BaseCommand):
    help = "Delete sessions that ended or expired more than --days ago (and, optionally, old audit events)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30, help="keep dead sessions this many days (default 30)")
        parser.add_argument("--audit-days", type=int, default=None,
                            help="also delete audit events older than this many days (default: keep all)")

    def handle(self, *args: Any, **options: Any) -> None:
        now = clock.now()
        cutoff = now - timedelta(days=options["days"])
        dead = Session.objects.filter(Q(ended_at__lt=cutoff) | Q(ended_at__isnull=True, expires_at__lt=cutoff))
        sessions_deleted, _ = dead.delete()
        proofs = prune_used_proofs(now)
        keys_deleted, _ = SigningKey.objects.filter(expires_at__lt=cutoff).delete()
        message = (f"Deleted {sessions_deleted} row(s) of dead sessions, {proofs} spent proof id(s), "
                   f"{keys_deleted} expired signing key(s)")
        if options["audit_days"] is not None:
            events, _ = AuditEvent.objects.filter(created_at__lt=now - timedelta(days=options["audit_days"])).delete()
            message += f", {events} audit event(s)"
        self.stdout.write(message + ".")
