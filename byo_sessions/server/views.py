"""``POST run-command``: authenticate the integration key, parse, dispatch, answer.

The view is ``csrf_exempt`` (server-to-server, no cookies) and ``session_exempt`` (its
``Authorization`` header is an integration key, not a session token). Every answer is
JSON: 200 with the command's response, or ``{"type", "details"}`` with a non-200
status, which is all the clients look at. Nothing the caller sends can cause a 500.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..core.text import json_depth, strings_in_json
from ..decorators import session_exempt
from ..values import Err
from . import integration_keys
from .commands import COMMANDS, NOT_OFFERED
from .errors import UNEXPECTED, WireError, bad_request, to_wire
from .fields import BadRequest, Fields

logger = logging.getLogger("byo_sessions.server")


def _answer(body: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _fail(error: WireError) -> JsonResponse:
    return _answer(error.body(), error.status)


# A UTF-16 surrogate reaches the parsed body as a \uD800-\uDFFF escape, or as raw bytes
# (json.loads decodes bytes with "surrogatepass"). Most bodies have neither: only those
# that match this quick look at the bytes are walked.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any, where: str) -> str | None:
    """Where a string (or object key) holds a lone UTF-16 surrogate, if anywhere.

    JavaScript strings may hold one (``"🚀".slice(0, 1)``) and ``JSON.stringify`` sends
    it as ``"\\ud83d"``; a valid pair has already become one character here. Such a
    string is not Unicode: no database stores it, so it is refused before any service
    sees it (as serde_json refuses it in the BYO sidecar)."""
    return next((path for path, text in strings_in_json(value, where) if _SURROGATE.search(text)), None)


MAX_DEPTH = 100  # arrays/objects in arrays/objects; SQLite's JSON refuses ~2,000, json.loads fails near 10,000


def _too_deep(raw: bytes, body: Any) -> bool:
    """Whether arrays/objects nest deeper than ``MAX_DEPTH`` (a body with fewer brackets
    than that is not walked at all)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    return json_depth(body) > MAX_DEPTH


def _parse(request: HttpRequest) -> tuple[str, Any] | WireError:
    try:
        raw = request.body
        body = json.loads(raw)
    except RequestDataTooBig:
        return WireError(UNEXPECTED, "InvalidRequest: the body is too large.", 413)
    except (ValueError, UnicodeDecodeError):
        return bad_request("the body is not JSON.")
    except RecursionError:  # json.loads gives up near 10,000 levels
        return bad_request(f"the body nests arrays/objects deeper than {MAX_DEPTH} levels.")
    if _too_deep(raw, body):
        return bad_request(f"the body nests arrays/objects deeper than {MAX_DEPTH} levels.")
    if not isinstance(body, dict) or not isinstance(body.get("command"), str):
        return bad_request('the body must be {"command": "<Name>", "data": {...}}.')
    if _MAYBE_SURROGATE.search(raw):
        found = _lone_surrogate(body.get("data"), "data")
        if found:
            return bad_request(f"{found[:200]} is not valid Unicode (it holds a lone UTF-16 surrogate).")
    data = body.get("data")
    return body["command"], {} if data is None else data


def _run(name: str, data: Any) -> JsonResponse:
    handler = COMMANDS.get(name)
    if handler is None:
        if name in NOT_OFFERED:
            return _fail(WireError(UNEXPECTED, f"CommandNotAvailable: {name} is not available in byo-sessions.", 501))
        return _fail(WireError(UNEXPECTED, f"UnknownCommand: {name[:100]!r} is not a command.", 400))
    try:
        reply = handler(Fields(data))
    except BadRequest as exc:
        return _fail(bad_request(str(exc)))
    except DatabaseError:
        logger.exception("byo_sessions server: database error in %s", name)
        return _fail(WireError(UNEXPECTED, "DatabaseError: the session store is unavailable.", 503))
    except Exception:
        logger.exception("byo_sessions server: %s failed", name)
        return _fail(WireError(UNEXPECTED, "InternalError: the command failed; see the server log.", 500))
    if isinstance(reply, Err):
        return _fail(to_wire(name, reply.error))
    if isinstance(reply, WireError):
        return _fail(reply)
    return _answer(reply)


@login_not_required  # callers authenticate with an integration key, not a login
@session_exempt
@csrf_exempt
def run_command(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = _fail(WireError(UNEXPECTED, "InvalidRequest: use POST.", 405))
        response["Allow"] = "POST"
        return response
    caller = integration_keys.authorize(request.headers.get("Authorization", ""))
    if isinstance(caller, WireError):
        return _fail(caller)
    parsed = _parse(request)
    if isinstance(parsed, WireError):
        return _fail(parsed)
    refused = caller.refusal(parsed[0])
    if refused is not None:
        return _fail(refused)
    return _run(*parsed)
