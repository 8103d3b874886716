"""``manage.py byo_integration_key``: a fresh session-server integration key and its digest.

Only the SHA-256 digest goes into ``BYO_SESSIONS["SERVER_INTEGRATION_KEYS"]``; the key
itself goes to the backend that calls the server, and is shown only this once.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ...server.integration_keys import new_key


class Command(BaseCommand):
    help = "Print a new integration key for the session server and the digest to put in settings."

    def handle(self, *args: Any, **options: Any) -> None:
        key, digest = new_key()
        self.stdout.write(f"Integration key (give it to the calling backend; it is not stored): {key}")
        self.stdout.write(f"Digest (add to BYO_SESSIONS['SERVER_INTEGRATION_KEYS']): {digest}")
