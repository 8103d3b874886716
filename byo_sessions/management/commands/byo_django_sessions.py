"""``manage.py byo_django_sessions``: how many ``django.contrib.sessions`` sessions are left.

While ``BYO_SESSIONS["MIGRATE_DJANGO_SESSIONS"]`` is on, each browser that comes back
moves its session over and its old row goes (docs/migrating.md), so the live count
falls; when it is zero, or after ``SESSION_COOKIE_AGE``, the setting and
``django.contrib.sessions`` can go. ``clearsessions`` prunes our sessions now, not
Django's rows: ``--clear-expired`` deletes those (one DELETE).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import byo_settings
from ...django_sessions import clear_expired, remaining


class Command(BaseCommand):
    help = "Count the django.contrib.sessions sessions not yet migrated to byo sessions (and clear expired ones)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--clear-expired", action="store_true", help="delete the expired django.contrib.sessions rows first"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not apps.is_installed("django.contrib.sessions"):
            raise CommandError(
                "'django.contrib.sessions' is not in INSTALLED_APPS: there are no Django sessions "
                "to count (or they cannot be read any more)."
            )
        if options["clear_expired"]:
            self.stdout.write(f"Deleted {clear_expired()} expired django.contrib.sessions row(s).")
        left = remaining()
        self.stdout.write(
            f"django.contrib.sessions: {left.live} live session(s), {left.logged_in} of them of "
            f"logged-in users, {left.live - left.logged_in} of visitors; {left.expired} expired."
        )
        if not byo_settings.MIGRATE_DJANGO_SESSIONS and left.live:
            self.stdout.write("BYO_SESSIONS['MIGRATE_DJANGO_SESSIONS'] is off: these are not being migrated.")
