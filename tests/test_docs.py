"""The documentation: every code block runs or is checked (the conventions are in
docs/contributing.md), and the settings reference matches ``byo_sessions/conf.py``."""

from __future__ import annotations

import ast
import asyncio
import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core import checks, management
from django.core.management import get_commands, load_command_class
from django.test import Client, override_settings
from django.urls import URLResolver
from django.urls.resolvers import RegexPattern
from django.utils.module_loading import import_string

from byo_sessions.conf import DEFAULTS
from tests.constants import IP, UA
from tests.examples import test_guides

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)(?P<info>[^`\n]*)$")
TITLE = re.compile(r'title="(?P<title>[^"]+)"')
# Blocks that show another program's configuration or a wire sample: shown, not run.
SHOWN_ONLY = {"", "text", "nginx", "http", "html", "sql", "toml", "ini"}
CHECKED = {"python", "console", "bash", "json", "js", "javascript"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    title: str
    code: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.lang} {self.title})".strip()


def blocks_of(page: Path) -> list[Block]:
    found: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        indent, start, body = opened["indent"], i + 1, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        title = TITLE.search(opened["info"])
        found.append(
            Block(
                page,
                start,
                opened["lang"].lower(),
                title["title"] if title else "",
                textwrap.dedent("\n".join(body)) + "\n",
            )
        )
        i += 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks_of(page)]


def test_every_block_has_a_known_kind():
    unknown = [str(b) for b in ALL_BLOCKS if b.lang not in SHOWN_ONLY | CHECKED]
    assert not unknown, f"add the language to the conventions (docs/contributing.md): {unknown}"


# --- settings snippets -------------------------------------------------------------

# Django's `startproject` lists, what "..." in a snippet's list stands for.
STOCK = {
    "INSTALLED_APPS": [
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
    ],
    "MIDDLEWARE": [
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
}


# Our middlewares take the place of these; "..." does not bring them back.
REPLACED = {
    "django.contrib.sessions.middleware.SessionMiddleware": "byo_sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "byo_sessions.middleware.AuthenticationMiddleware",
}


def settings_of(code: str, earlier: dict[str, Any]) -> dict[str, Any]:
    """Run a settings snippet over the stock lists and the page's earlier settings blocks
    (a page walks through one settings file); ``...`` in a list stands for the stock
    entries the snippet does not name (nor replace with ours)."""
    namespace: dict[str, Any] = {name: list(value) for name, value in STOCK.items()}
    namespace.update(earlier)
    namespace.setdefault("BYO_SESSIONS", {})
    before = copy.deepcopy({name: value for name, value in namespace.items() if name.isupper()})
    exec(compile(code, "<settings.py>", "exec"), namespace)
    values = dict(earlier)
    for name, value in namespace.items():
        if not name.isupper() or (name in before and value == before[name]):
            continue
        if isinstance(value, list) and Ellipsis in value:
            value = [x for x in value if x is not Ellipsis]
            value += [x for x in STOCK.get(name, []) if x not in value and REPLACED.get(x) not in value]
        values[name] = value
    return values


def check_logging(config: dict[str, Any]) -> None:
    """LOGGING is checked, not applied: Django reconfigures logging on a LOGGING change and
    the loggers it configured keep their levels and handlers after the override ends."""
    handlers = config.get("handlers", {})
    formatters = config.get("formatters", {})
    for handler in handlers.values():
        import_string(handler["class"])
        assert handler.get("formatter") is None or handler["formatter"] in formatters, handler
    for logger in [*config.get("loggers", {}).values(), config.get("root", {})]:
        assert set(logger.get("handlers", [])) <= set(handlers), logger


def check_settings(values: dict[str, Any]) -> None:
    values = dict(values)
    if "LOGGING" in values:
        check_logging(values.pop("LOGGING"))
    if "INSTALLED_APPS" in values:  # the test settings' urls (ROOT_URLCONF) need DRF
        values["INSTALLED_APPS"] = list(dict.fromkeys([*values["INSTALLED_APPS"], "rest_framework"]))
    with override_settings(**values):
        errors = [m for m in checks.run_checks() if m.level >= checks.ERROR]
    assert not errors, errors


# --- command lines -----------------------------------------------------------------


def check_command_line(line: str, block: Block) -> None:
    """A ``manage.py`` line names a command that exists and arguments its parser takes."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for word in lexer:  # the command itself, up to a redirection or the next command
        if word and set(word) <= set("<>|&;"):
            break
        words.append(word)
    if not words:
        return
    if "manage.py" not in words:
        if words[0] == "bash":
            assert (ROOT / words[1]).is_file(), f"{block}: {line}"
        return
    args = words[words.index("manage.py") + 1 :]
    commands = get_commands()
    assert args and args[0] in commands, f"{block}: no such command in {line!r}"
    command = load_command_class(commands[args[0]], args[0])
    parser = command.create_parser("manage.py", args[0])
    try:
        parser.parse_args(args[1:])
    except management.CommandError as error:  # the parser raises this instead of exiting
        pytest.fail(f"{block}: {line!r}: {error}")


# --- python ------------------------------------------------------------------------


def run_python(code: str, namespace: dict[str, Any], where: str) -> None:
    """Run a block; top-level ``await`` works (``async_to_sync`` runs the ORM calls of
    the async API in this thread, where the test database is)."""
    compiled = compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)  # our own documentation
    if asyncio.iscoroutine(result):

        async def finish() -> None:
            await result

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: the usual case
            async_to_sync(finish)()
            return
        # Playwright's sync API (the browser tests, earlier in the same run) leaves its loop
        # marked running in this thread, where async_to_sync refuses to run: use a thread of
        # its own (only transactional pages get here after them, so it sees their rows).
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, finish()).result()


def module_name(title: str) -> str | None:
    if not title.endswith(".py") or title == "settings.py":
        return None
    return title[: -len(".py")].replace("/", ".")


SERVER_KEY = "byo_ik_docs-integration-key-0123456789abcdefghij"


@pytest.fixture
def doc_namespace(request: Any, doc_page: Path, django_user_model: Any, settings: Any) -> dict[str, Any]:
    """What a python block may use without importing it (docs/contributing.md). A page
    that talks to the session server gets one (``live_server``, so a real database)."""
    from django.contrib import admin
    from django.http import HttpResponseRedirect, JsonResponse
    from django.shortcuts import redirect, render
    from django.urls import include
    from django.urls import path as url_path
    from rest_framework.permissions import IsAuthenticated
    from rest_framework.response import Response
    from rest_framework.views import APIView

    import byo_sessions
    from byo_sessions import is_err, is_ok, sessions
    from byo_sessions.server.integration_keys import key_digest

    wants_server = "session_server_url" in doc_page.read_text()  # a transactional test (_page_param)
    user = django_user_model.objects.create_user("alice", "alice@example.com", "alice-password")
    client = Client(HTTP_USER_AGENT=UA, REMOTE_ADDR=IP)
    client.force_login(user)
    namespace = {
        "__name__": "docs_example",
        "path": url_path,
        "include": include,
        "admin": admin,
        "render": render,
        "redirect": redirect,
        "JsonResponse": JsonResponse,
        "HttpResponseRedirect": HttpResponseRedirect,
        "APIView": APIView,
        "Response": Response,
        "IsAuthenticated": IsAuthenticated,
        "User": django_user_model,
        "byo_sessions": byo_sessions,
        "sessions": sessions,
        "is_ok": is_ok,
        "is_err": is_err,
        "request": client.get("/whoami/").wsgi_request,
        "user": user,
        "ip": IP,
        "ua": UA,
        "token": sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data.session_token,
        "support": django_user_model.objects.create_user("support", is_staff=True),
    }
    if wants_server:
        settings.ROOT_URLCONF = "tests.server.urls"
        settings.BYO_SESSIONS = {"SERVER_INTEGRATION_KEYS": [key_digest(SERVER_KEY)]}
        live_server = request.getfixturevalue("live_server")
        namespace.update(session_server_url=live_server.url + "/byo-server", integration_key=SERVER_KEY)
    return namespace


# Guides whose blocks are verbatim excerpts of a runnable example app: tests/examples/test_guides.py
# checks each block against the app's source, and the app runs end to end there.
EXCERPT_PAGES = {ROOT / page for page in test_guides.EXCERPT_PAGES}
PAGES_WITH_CODE = [
    page for page in PAGES if page not in EXCERPT_PAGES and any(b.lang in CHECKED for b in blocks_of(page))
]


def _page_param(page: Path) -> Any:
    """A page that talks to the live session server runs in a transactional test (the server
    thread's rows are committed; only a flush removes them), the others in a rolled-back one."""
    wants_server = "session_server_url" in page.read_text()
    return pytest.param(page, id=str(page.relative_to(DOCS)), marks=pytest.mark.django_db(transaction=wants_server))


@pytest.fixture
def page_receivers_disconnected() -> Iterator[None]:
    """A page's ``@receiver`` examples stay connected only for the page. A receiver is held
    weakly, but the function and the page's namespace refer to each other, so it lives
    until a garbage collection, sometimes into later tests, where the example's names
    (``new_devices``) are missing and the signal raises."""
    from django.dispatch import Signal

    from byo_sessions import signals

    ours = [value for value in vars(signals).values() if isinstance(value, Signal)]
    before = {signal: list(signal.receivers) for signal in ours}
    yield
    for signal, receivers in before.items():
        with signal.lock:
            signal.receivers = receivers
            signal.sender_receivers_cache.clear()


@pytest.mark.parametrize("doc_page", [_page_param(page) for page in PAGES_WITH_CODE])
@pytest.mark.usefixtures("page_receivers_disconnected")
def test_code_blocks_of_page(doc_page: Path, doc_namespace: dict[str, Any], monkeypatch: Any) -> None:
    """The page's blocks in order, python blocks sharing one namespace (like a doctest);
    ``title="<dotted/path>.py"`` blocks become importable modules first."""
    blocks = [b for b in blocks_of(doc_page) if b.lang in CHECKED]
    namespace = dict(doc_namespace)
    page_settings: dict[str, Any] = {}
    for block in blocks:
        name = module_name(block.title) if block.lang == "python" else None
        if name:
            module = types.ModuleType(name)
            module.__dict__.update(namespace)
            module.__dict__["__name__"] = name
            parts = name.split(".")
            for i in range(1, len(parts)):
                monkeypatch.setitem(
                    sys.modules,
                    ".".join(parts[:i]),
                    sys.modules.get(".".join(parts[:i])) or types.ModuleType(".".join(parts[:i])),
                )
            monkeypatch.setitem(sys.modules, name, module)
            run_python(block.code, module.__dict__, str(block))
            if hasattr(module, "urlpatterns"):
                resolver = URLResolver(RegexPattern(r"^/"), module.urlpatterns)
                assert not checks.urls.check_resolver(resolver), block
            namespace.update({k: v for k, v in module.__dict__.items() if not k.startswith("__")})
    for block in blocks:
        if block.lang == "python" and module_name(block.title):
            continue
        if block.lang == "python" and block.title == "settings.py":
            page_settings = settings_of(block.code, page_settings)
            check_settings(page_settings)
        elif block.lang == "python":
            run_python(block.code, namespace, str(block))
        elif block.lang == "json":
            json.loads(block.code)
        elif block.lang == "console":
            for line in block.code.splitlines():
                if line.startswith("$ "):
                    check_command_line(line[2:], block)
        elif block.lang == "bash":
            assert subprocess.run(["bash", "-n"], input=block.code, text=True).returncode == 0, block
            for line in block.code.replace("\\\n", " ").splitlines():
                check_command_line(line, block)
        elif block.lang in ("js", "javascript"):
            node = shutil.which("node")
            if node is None:  # the JS blocks are then only shown; CI has Node.js (the Node client tests need it)
                assert os.environ.get("CI") != "true", "Node.js is missing and CI=true"
                continue
            done = subprocess.run(
                [node, "--input-type=module", "--check"], input=block.code, text=True, capture_output=True
            )
            assert done.returncode == 0, f"{block}: {done.stderr}"


# --- the settings reference --------------------------------------------------------

ROW = re.compile(r"^\| `(?P<key>[A-Z][A-Z0-9_]+)` \| (?P<default>[^|]+) \|", re.M)


def documented_settings() -> dict[str, str]:
    text = (DOCS / "settings.md").read_text()
    rows = ROW.findall(text)
    keys = [key for key, _ in rows]
    assert len(keys) == len(set(keys)), "a setting is documented twice"
    return {key: default.strip() for key, default in rows}


def test_settings_reference_lists_every_setting_and_nothing_else():
    assert set(documented_settings()) == set(DEFAULTS)


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_settings_reference_gives_the_default(key: str):
    """The Default column starts with the default as Python would write it."""
    written = re.match(r"`(?P<value>[^`]+)`", documented_settings()[key])
    assert written, f"{key}: the default must start with `<python literal>`"
    assert ast.literal_eval(written["value"]) == DEFAULTS[key]


def test_every_management_command_is_documented():
    text = (DOCS / "commands.md").read_text()
    ours = sorted(p.stem for p in (ROOT / "byo_sessions/management/commands").glob("byo_*.py"))
    assert ours and all(f"`{name}`" in text for name in ours), ours


def test_every_export_of_device_js_is_documented():
    source = (ROOT / "byo_sessions/static/byo_sessions/device.js").read_text()
    exports = re.findall(r"^export (?:async )?(?:function|class|const) (\w+)", source, re.M)
    text = (DOCS / "javascript.md").read_text()
    assert exports and all(f"`{name}" in text for name in exports), exports
