"""Django's own session-backend tests, run against our store and middleware.

``tests/sessions_tests/tests.py`` of the installed Django's source distribution is fetched
at test time (``pip download`` of the sdist, cached outside git in ``<repo>/.cache/``), so
the suite follows whichever Django version runs it and no copy lives in this repository.
That file imports ``django.contrib.sessions.models`` and its package's ``.models``, which
need apps we do not install, so it is not imported: its two shared classes,
``SessionTestsMixin`` (what every backend must do) and ``SessionMiddlewareTests``, are
compiled from the file's own lines (tracebacks point at Django's code) in a namespace
where Django's database store, middleware and ``Session`` model are ours. The few tests
that cannot hold by design are listed by name below, each with its reason, and marked
``xfail(strict=True)`` so they turn red the day they pass (docs/http.md, "Django's own
session tests").

Without network the module skips on a developer machine and fails with ``CI=true``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path
from typing import Any

import django
import pytest
from django.test import TestCase, override_settings

from byo_sessions.backends.db import SessionStore
from byo_sessions.core.tokens import hash_token
from byo_sessions.middleware import SessionMiddleware
from byo_sessions.models import Session as SessionRow

REPO = Path(__file__).resolve().parents[2]
MEMBER = "tests/sessions_tests/tests.py"  # inside the sdist's top directory (django-<version>/)
CLASSES = ("SessionTestsMixin", "SessionMiddlewareTests")
# Modules of the file's imports that need apps we do not install; their names are ours below.
UNIMPORTABLE = {"django.contrib.sessions.models"}

# Django tests that contradict the store's design, by class: test name -> why.
# Keep in step with docs/http.md ("Django's own session tests").
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "SessionTestsMixin": {},
    "SessionMiddlewareTests": {},
}


class SourceUnavailable(Exception):
    """Django's source distribution could not be fetched (no network, no index)."""


def django_tests_file(version: str) -> Path:
    """``sessions_tests/tests.py`` of Django ``version``, from the cache or fetched into it.

    The sdist is downloaded into a temporary directory next to the cache and only the one
    member is kept; the file appears atomically, so concurrent runs never read half of it.
    """
    target = REPO / ".cache" / "django-sdist" / version / MEMBER
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--disable-pip-version-check",
            "--retries",
            "1",
            "--timeout",
            "20",
            "--dest",
            scratch,
            f"django=={version}",
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise SourceUnavailable(f"`pip download django=={version}` took over 10 minutes") from None
        archives = sorted(Path(scratch).glob("*.tar.gz"))
        if done.returncode != 0 or not archives:
            lines = (done.stderr or done.stdout).strip().splitlines()
            tail = " | ".join([line for line in lines if line.startswith("ERROR")] or lines[-2:])
            raise SourceUnavailable(f"`pip download --no-binary :all: django=={version}` failed: {tail}")
        with tarfile.open(archives[0]) as archive:
            # The top directory is django-<version>/ (older sdists: Django-<version>/).
            member = next((m for m in archive.getmembers() if m.isfile() and m.name.partition("/")[2] == MEMBER), None)
            if member is None:
                raise SourceUnavailable(f"{archives[0].name} has no */{MEMBER}")
            extracted = archive.extractfile(member)
            assert extracted is not None
            partial = Path(scratch) / "tests.py"
            partial.write_bytes(extracted.read())
        partial.replace(target)
    return target


class _DecodedRow:
    """What Django's tests ask of a ``Session`` row: its data, decoded."""

    def __init__(self, row: SessionRow) -> None:
        self.row = row

    def get_decoded(self) -> dict[str, Any]:
        if not self.row.data:
            return {}
        return SessionStore.serializer().loads(self.row.data.encode("latin-1"))


class _SessionRows:
    @staticmethod
    def get(*, session_key: str) -> _DecodedRow:
        """A session key is a token; only its hash is stored."""
        return _DecodedRow(SessionRow.objects.get(token_hash=hash_token(session_key)))


class Session:
    """Stands in for ``django.contrib.sessions.models.Session`` in Django's tests."""

    objects = _SessionRows()


def load_django_classes(path: Path) -> dict[str, type]:
    """``CLASSES`` from Django's file, compiled from its own lines, in a namespace that has
    the file's imports with Django's database store, middleware and model swapped for ours."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    imports = [
        node
        for node in tree.body
        if isinstance(node, ast.Import)
        or (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module not in UNIMPORTABLE)
    ]
    wanted = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name in CLASSES]
    missing = set(CLASSES) - {node.name for node in wanted}
    if missing:
        raise LookupError(f"{path} defines no {', '.join(sorted(missing))}")
    namespace: dict[str, Any] = {"__name__": __name__, "__file__": str(path)}
    exec(compile(ast.Module(body=imports, type_ignores=[]), str(path), "exec"), namespace)
    namespace.update(SessionMiddleware=SessionMiddleware, DatabaseSession=SessionStore, Session=Session)
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(path), "exec"), namespace)
    return {name: namespace[name] for name in CLASSES}


def with_expected_failures(cls: type, failures: dict[str, str]) -> type:
    """Mark the named tests of ``cls`` ``xfail(strict=True)`` on copies of their functions
    (same code, so same lines in tracebacks; Django's class stays untouched)."""
    for name, reason in failures.items():
        test = getattr(cls, name, None)
        if not isinstance(test, types.FunctionType):
            raise LookupError(
                f"EXPECTED_FAILURES names {name!r}, which Django {django.get_version()} does not have in {cls.__name__}"
            )
        copy = types.FunctionType(test.__code__, test.__globals__, name, test.__defaults__, test.__closure__)
        copy.__qualname__ = test.__qualname__
        setattr(cls, name, pytest.mark.xfail(strict=True, reason=reason)(copy))
    return cls


try:
    _source: Path | SourceUnavailable = django_tests_file(django.get_version())
except SourceUnavailable as exc:
    _source = exc
if isinstance(_source, SourceUnavailable):
    if os.environ.get("CI") == "true":
        pytest.fail(f"Django's session tests are required with CI=true: {_source}", pytrace=False)
    pytest.skip(f"Django's session tests could not be fetched (no network?): {_source}", allow_module_level=True)
_django = load_django_classes(_source)


class ByoSessionStoreTests(_django["SessionTestsMixin"], TestCase):
    """Every backend test of Django's mixin, on ``byo_sessions.backends.db.SessionStore``."""

    backend = SessionStore


@override_settings(SESSION_COOKIE_NAME="sessionid")  # Django's expected strings name it
class ByoSessionMiddlewareTests(_django["SessionMiddlewareTests"]):
    """Django's middleware tests, on ``byo_sessions.middleware.SessionMiddleware``."""


with_expected_failures(ByoSessionStoreTests, EXPECTED_FAILURES["SessionTestsMixin"])
with_expected_failures(ByoSessionMiddlewareTests, EXPECTED_FAILURES["SessionMiddlewareTests"])
