"""``manage.py byo_rotate_keys``: add the next stateless-token signing key and schedule
the end of the current ones (``sessions.rotate_stateless_token_key``), then list the keys.

Run it from cron (e.g. monthly). The defaults publish the new key an hour before it
signs anything (JWKS caches keep 300 s) and keep the old keys verifying until every
token they signed has expired.

``--reencrypt`` rotates nothing: it re-encrypts the stored private keys under the current
``SECRET_KEY`` (after the old one moved to ``SECRET_KEY_FALLBACKS``), so the fallback can
then be dropped.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import byo_settings
from ...core import clock
from ...models import SigningKey
from ...services.signing_keys import key_state, reencrypt_signing_keys, rotate_stateless_token_key
from ...values import Err

DEFAULT_SECS_BEFORE_DEFAULT = 3600


class Command(BaseCommand):
    help = "Rotate the signing key of stateless tokens (JWTs): add the next key, schedule the old ones' end."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--secs-before-new-key-becomes-default",
            type=int,
            default=DEFAULT_SECS_BEFORE_DEFAULT,
            help=f"the new key signs from now + this (default {DEFAULT_SECS_BEFORE_DEFAULT})",
        )
        parser.add_argument(
            "--secs-before-existing-keys-are-deactivated",
            type=int,
            default=None,
            help="the existing keys stop verifying at now + this (default: the value above + "
            "STATELESS_TOKEN_MAX_LIFETIME_SECS + 300)",
        )
        parser.add_argument(
            "--reencrypt",
            action="store_true",
            help="only re-encrypt the stored private keys under the current SECRET_KEY",
        )
        parser.add_argument("--actor", default="manage.py byo_rotate_keys", help="recorded on the audit event")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["reencrypt"]:
            self._reencrypt(options["actor"])
            return
        becomes = options["secs_before_new_key_becomes_default"]
        deactivate = options["secs_before_existing_keys_are_deactivated"]
        if deactivate is None:
            deactivate = becomes + int(byo_settings.STATELESS_TOKEN_MAX_LIFETIME_SECS) + 300
        result = rotate_stateless_token_key(
            secs_before_new_key_becomes_default=becomes,
            secs_before_existing_keys_are_deactivated=deactivate,
            actor=options["actor"],
        )
        if isinstance(result, Err):
            raise CommandError(f"{result.error.type}: {result.error.message}")
        rotation = result.data
        self.stdout.write(
            f"New key {rotation.new_key_id} becomes default at "
            f"{rotation.new_key_becomes_default_at.isoformat()}; existing keys expire at "
            f"{rotation.existing_keys_expire_at.isoformat()}."
        )
        self._list_keys()

    def _reencrypt(self, actor: str) -> None:
        result = reencrypt_signing_keys(actor=actor)
        if isinstance(result, Err):
            raise CommandError(f"{result.error.type}: {result.error.message}")
        kids = result.data
        self.stdout.write(
            f"Re-encrypted {len(kids)} key(s) under the current SECRET_KEY"
            + (f": {', '.join(kids)}." if kids else " (all were already).")
        )
        self._list_keys()

    def _list_keys(self) -> None:
        now = clock.now()
        for row in SigningKey.objects.all():
            expires = row.expires_at.isoformat() if row.expires_at else "-"
            self.stdout.write(
                f"  {row.kid}  {key_state(row, now):8}  default from "
                f"{row.becomes_default_at.isoformat()}  expires {expires}"
            )
