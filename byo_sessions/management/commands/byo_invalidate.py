"""``manage.py byo_invalidate``: end sessions in bulk (set-based, audited)."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from ...models import EndReason, Session
from ...services import owners, sessions
from ...values import Err


class Command(BaseCommand):
    help = "End active sessions selected by user, tag, or all of them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="username or primary key of a Django user")
        parser.add_argument("--external-user", help="a session-server caller's user id")
        parser.add_argument("--tag", action="append", default=[], help="only sessions with this tag (repeatable)")
        parser.add_argument("--all", action="store_true", help="every active session")
        parser.add_argument("--reason", default=EndReason.BULK, choices=[c.value for c in EndReason],
                            help="reason recorded on the sessions and in the audit trail")
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def _selection(self, options: dict[str, Any]) -> QuerySet[Session]:
        if not (options["user"] or options["external_user"] or options["tag"] or options["all"]):
            raise CommandError("Say which sessions: --user, --external-user, --tag, or --all.")
        queryset = Session.objects.filter(ended_at__isnull=True)
        if options["user"]:
            users = get_user_model()._default_manager
            user = users.filter(**{users.model.USERNAME_FIELD: options["user"]}).first()
            if user is None and str(options["user"]).isdigit():
                user = users.filter(pk=int(options["user"])).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
            queryset = queryset & owners.Owner(user_id=user.pk).sessions()
        if options["external_user"]:
            queryset = queryset & owners.Owner(external_user_id=options["external_user"]).sessions()
        selected = owners.with_tags(queryset, options["tag"] or None)
        if isinstance(selected, Err):
            raise CommandError(selected.error.message)
        return selected

    def handle(self, *args: Any, **options: Any) -> None:
        queryset = self._selection(options)
        if options["dry_run"]:
            self.stdout.write(f"Would end {queryset.count()} session(s).")
            return
        ended = sessions.invalidate_where(queryset=queryset, reason=options["reason"],
                                          actor="command:byo_invalidate").data
        self.stdout.write(f"Ended {ended} session(s).")
