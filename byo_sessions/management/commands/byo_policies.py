"""``manage.py byo_policies export [FILE]`` / ``import FILE [--dry-run]``."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...core.policy import PolicyValueError
from ...services import policies


class Command(BaseCommand):
    help = "Export the session policy set as JSON, or import one (all-or-nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="write the policy set as JSON")
        export.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")
        imp = sub.add_parser("import", help="replace the policy set with a JSON document")
        imp.add_argument("file", help="input file, or - for stdin")
        imp.add_argument("--dry-run", action="store_true", help="validate only, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            text = json.dumps(policies.export_document(), indent=2, sort_keys=True) + "\n"
            if options["file"] == "-":
                self.stdout.write(text, ending="")
            else:
                with open(options["file"], "w", encoding="utf-8") as handle:
                    handle.write(text)
            return
        try:
            source = sys.stdin if options["file"] == "-" else open(options["file"], encoding="utf-8")
            with source:
                doc = json.load(source)
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"Cannot read a JSON document from {options['file']}: {exc}") from exc
        try:
            policy_set = policies.import_document(doc, actor="command:byo_policies", dry_run=options["dry_run"])
        except PolicyValueError as exc:
            for path, message in exc.errors:
                self.stderr.write(f"{path or '(document)'}: {message}")
            raise CommandError(f"Import refused: {len(exc.errors)} error(s); nothing was changed.") from exc
        verb = "Valid" if options["dry_run"] else "Imported"
        self.stdout.write(f"{verb}: {len(policy_set.rules)} tag rule(s).")
