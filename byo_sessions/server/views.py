"""``POST run-command``: authenticate the integration key, parse, dispatch, answer.

The view is ``csrf_exempt`` (server-to-server, no cookies) and ``session_exempt`` (its
``Authorization`` header is an integration key, not a session token). Every answer is
JSON: 200 with the command's response, or ``{"type", "details"}`` with a non-200
status, which is all the clients look at. Nothing the caller sends can cause a 500.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..decorators import session_exempt
from ..results import Err
from . import keys
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


def _parse(request: HttpRequest) -> tuple[str, Any] | WireError:
    try:
        body = json.loads(request.body)
    except RequestDataTooBig:
        return WireError(UNEXPECTED, "InvalidRequest: the body is too large.", 413)
    except (ValueError, UnicodeDecodeError):
        return bad_request("the body is not JSON.")
    if not isinstance(body, dict) or not isinstance(body.get("command"), str):
        return bad_request('the body must be {"command": "<Name>", "data": {...}}.')
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


@session_exempt
@csrf_exempt
def run_command(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = _fail(WireError(UNEXPECTED, "InvalidRequest: use POST.", 405))
        response["Allow"] = "POST"
        return response
    refused = keys.check_authorization(request.headers.get("Authorization", ""))
    if refused is not None:
        return _fail(refused)
    parsed = _parse(request)
    if isinstance(parsed, WireError):
        return _fail(parsed)
    return _run(*parsed)
