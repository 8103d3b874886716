"""``manage.py byo_invalidate``: end sessions in bulk, by filters that combine.

Set-based and batched (``services/bulk.py``): each batch of ``--batch-size`` sessions is
ended, audited and committed on its own, so a run holds no lock longer than a batch, an
interrupted run keeps what it did and a rerun ends the rest. Only live sessions are
ended unless ``--include-expired``.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import MultipleObjectsReturned
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ...core.network import InvalidNetwork, IpNetwork, parse_network
from ...core.tags import TagFormatError, normalise_tags
from ...core.text import storable
from ...core.user_agent import UserAgentSummary
from ...models import Device, EndReason, Session
from ...services.bulk import DEFAULT_BATCH_SIZE, BulkRun, Selection, sessions_selected

ACTOR = "command:byo_invalidate"
MAX_NOTE_LENGTH = 500
INTERRUPTED_EXIT_CODE = 130  # what a shell reports for Ctrl-C


def parse_when(value: str, option: str) -> datetime:
    """An ISO date (midnight, current time zone) or datetime (naive: current time zone)."""
    try:
        moment = parse_datetime(value)
        day = None if moment is not None else parse_date(value)
    except ValueError:
        moment = day = None
    if day is not None:
        moment = datetime.combine(day, time.min)
    if moment is None:
        raise CommandError(f"{option} {value!r} is not a date or date-time (e.g. 2026-11-29 or 2026-11-29T13:00).")
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def parse_networks(values: list[str], option: str) -> tuple[IpNetwork, ...]:
    parsed = []
    for value in values:
        try:
            parsed.append(parse_network(value))
        except InvalidNetwork as exc:
            raise CommandError(f"{option} {value!r}: {exc.reason}") from None
    return tuple(parsed)


def resolve_user(value: str) -> Any:
    """A Django user's pk from a username, an e-mail address or a pk (in that order)."""
    model = get_user_model()
    users = model._default_manager
    found = users.filter(**{model.USERNAME_FIELD: value}).values_list("pk", flat=True).first()
    email_field = model.get_email_field_name()
    if found is None and "@" in value and any(f.name == email_field for f in model._meta.get_fields()):
        try:
            found = users.filter(**{f"{email_field}__iexact": value}).values_list("pk", flat=True).get()
        except model.DoesNotExist:
            found = None
        except MultipleObjectsReturned:
            raise CommandError(
                f"--user {value!r}: several users have this e-mail address; name one by username or id."
            ) from None
    if found is None and value.isdigit():
        found = users.filter(pk=int(value)).values_list("pk", flat=True).first()
    if found is None:
        raise CommandError(f"No user {value!r} (tried username, e-mail and id).")
    return found


class Progress:
    """A bar on a terminal, otherwise a plain line at each tenth of the run (logs stay short)."""

    WIDTH = 30

    def __init__(self, out: Any, total: int) -> None:
        self.out, self.total = out, max(total, 1)
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.next_tenth = 1

    def __call__(self, done: int) -> None:
        if self.tty:
            filled = min(self.WIDTH, self.WIDTH * done // self.total)
            self.out.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self.total}", ending="")
            self.out.flush()
            return
        while self.next_tenth <= 10 and done * 10 >= self.next_tenth * self.total:
            self.out.write(f"Ended {done} of about {self.total} ({self.next_tenth * 10}%).")
            self.next_tenth += 1

    def finish(self) -> None:
        if self.tty:
            self.out.write("")


class Command(BaseCommand):
    help = (
        "End live sessions selected by filters that combine (AND; tags: all of them, or any with --any-tag). "
        "Ask for a --dry-run first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_argument_group("which sessions (combine; at least one, or --all)")
        which.add_argument(
            "--user",
            action="append",
            default=[],
            help="a Django user by username, e-mail or id (repeatable: any of them)",
        )
        which.add_argument(
            "--external-user",
            action="append",
            default=[],
            help="a session-server caller's user id (repeatable: any of them)",
        )
        which.add_argument("--tag", action="append", default=[], help="a session tag such as org:acme (repeatable)")
        tags = which.add_mutually_exclusive_group()
        tags.add_argument(
            "--all-tags", dest="any_tag", action="store_false", help="sessions carrying every --tag (the default)"
        )
        tags.add_argument("--any-tag", dest="any_tag", action="store_true", help="sessions carrying any --tag")
        parser.set_defaults(any_tag=False)
        which.add_argument(
            "--ip",
            action="append",
            default=[],
            help="current IP address or CIDR network, e.g. 203.0.113.0/24 (repeatable: any)",
        )
        which.add_argument(
            "--created-ip",
            action="append",
            default=[],
            help="IP address or CIDR the session was created from (repeatable: any)",
        )
        which.add_argument("--created-before", help="created before this date or date-time (ISO 8601)")
        which.add_argument("--created-after", help="created at or after this date or date-time")
        which.add_argument("--last-active-before", help="last active before this date or date-time")
        which.add_argument("--device", action="append", default=[], help="a device id (dev_...) (repeatable: any)")
        which.add_argument(
            "--browser",
            action="append",
            default=[],
            help="User-Agent family as the admin shows it, e.g. Chrome (repeatable: any)",
        )
        which.add_argument("--all", action="store_true", help="every live session (no other filter)")
        which.add_argument(
            "--include-expired",
            action="store_true",
            help="also end sessions past their absolute expiry that were not marked ended",
        )
        parser.add_argument("--reason", default="", help="why (free text, recorded in the audit trail)")
        parser.add_argument(
            "--end-reason",
            default=EndReason.BULK,
            choices=[c.value for c in EndReason],
            help="end reason stored on each session (default: bulk)",
        )
        parser.add_argument("--dry-run", action="store_true", help="count and show a sample; change nothing")
        parser.add_argument("--sample", type=int, default=10, help="sessions shown by --dry-run (default 10)")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"sessions per committed batch (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            "--yes",
            "-y",
            dest="interactive",
            action="store_false",
            help="do not ask for confirmation",
        )

    def _selection(self, options: dict[str, Any]) -> Selection:
        try:
            tags = tuple(normalise_tags(options["tag"])) if options["tag"] else ()
        except TagFormatError as exc:
            raise CommandError(f"--tag {exc.tag!r}: {exc.reason}") from None
        devices = tuple(options["device"])
        known = set(Device.objects.filter(pk__in=devices).values_list("pk", flat=True))
        for device in devices:
            if device not in known:
                raise CommandError(f"No device {device!r}.")
        for external in options["external_user"]:
            if not external.strip() or len(external) > 255:
                raise CommandError(f"--external-user {external!r} is not a user id (1 to 255 characters).")
        selection = Selection(
            user_ids=tuple(resolve_user(u) for u in options["user"]),
            external_user_ids=tuple(options["external_user"]),
            tags=tags,
            any_tag=bool(options["any_tag"]),
            networks=parse_networks(options["ip"], "--ip"),
            created_networks=parse_networks(options["created_ip"], "--created-ip"),
            created_before=self._when(options, "created_before"),
            created_after=self._when(options, "created_after"),
            last_active_before=self._when(options, "last_active_before"),
            device_ids=devices,
            browsers=tuple(b.strip() for b in options["browser"] if b.strip()),
            everything=options["all"],
            include_expired=options["include_expired"],
        )
        if options["browser"] and not selection.browsers:
            raise CommandError("--browser needs a name, e.g. Chrome.")
        if options["any_tag"] and not tags:
            raise CommandError("--any-tag needs --tag.")
        if selection.is_empty and not selection.everything:
            raise CommandError(
                "Say which sessions: --user, --external-user, --tag, --ip, --created-ip, "
                "--created-before/--created-after, --last-active-before, --device, --browser, or --all."
            )
        if selection.everything and not selection.is_empty:
            raise CommandError("--all ends every live session: leave out the other filters, or drop --all.")
        if selection.created_after and selection.created_before and selection.created_after >= selection.created_before:
            raise CommandError("--created-after must be earlier than --created-before.")
        return selection

    @staticmethod
    def _when(options: dict[str, Any], name: str) -> datetime | None:
        value = options[name]
        return None if value is None else parse_when(value, "--" + name.replace("_", "-"))

    def _show_sample(self, sessions: list[Session]) -> None:
        self.stdout.write(f"{'id':<28} {'user':<24} {'IP':<18} {'browser':<28} created")
        for s in sessions:
            user = s.user.get_username() if s.user is not None else (s.external_user_id or "(visitor)")
            when = timezone.localtime(s.created_at).strftime("%Y-%m-%d %H:%M")
            browser = UserAgentSummary.from_dict(s.client).display_name
            self.stdout.write(f"{s.id:<28} {user[:24]:<24} {(s.last_ip_address or '-'):<18} {browser[:28]:<28} {when}")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError(f"--batch-size {options['batch_size']} must be at least 1.")
        if options["sample"] < 0:
            raise CommandError(f"--sample {options['sample']} must be 0 or more.")
        selection = self._selection(options)
        selected = sessions_selected(selection)
        total = selected.count()
        if options["dry_run"]:
            self.stdout.write(f"Would end {total} session(s).")
            if total and options["sample"]:
                shown = list(selected.select_related("user").order_by("pk")[: options["sample"]])
                self._show_sample(shown)
            return
        if total == 0:
            self.stdout.write("Ended 0 session(s).")
            return
        if options["interactive"]:
            answer = input(f"End {total} session(s)? Type 'yes' to continue: ")
            if answer.strip().lower() != "yes":
                self.stdout.write("Cancelled: nothing was ended.")
                return
        run = BulkRun(
            selection=selection,
            reason=options["end_reason"],
            actor=ACTOR,
            note=storable(options["reason"])[:MAX_NOTE_LENGTH],
            batch_size=options["batch_size"],
        )
        progress = Progress(self.stdout, total)
        try:
            run.run(progress=progress)
        except KeyboardInterrupt:
            progress.finish()
            raise CommandError(
                f"Interrupted after ending {run.ended} session(s); run the same command again to end the rest.",
                returncode=INTERRUPTED_EXIT_CODE,
            ) from None
        progress.finish()
        self.stdout.write(f"Ended {run.ended} session(s).")
