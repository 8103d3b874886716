"""The example project's ASGI application as tests/test_asgi.py serves it with uvicorn, with
what the test reads about the event loop.

* Every SQL statement is counted by where it ran: in a thread (what ``sync_to_async`` and
  Django's handler do for sync code) or on the event loop's thread (which Django would
  refuse with ``SynchronousOnlyOperation``; counted in case a project allowed it).
* asyncio's debug mode (``PYTHONASYNCIODEBUG=1``, set by the test) logs every callback that
  holds the loop longer than ``slow_callback_duration``: a blocking call. They are counted.
* ``/__test/advance?seconds=N`` moves byo_sessions' clock in this process (the ``clock``
  fixture's job in the suite: rotation and challenge expiry without sleeping);
  ``/__test/stats`` answers the counts, ``/__test/reset`` zeroes them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from typing import Any
from urllib.parse import parse_qs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi_settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()

from django.db.backends.signals import connection_created  # noqa: E402

from byo_sessions.core import clock  # noqa: E402

SLOW_CALLBACK_SECS = float(os.environ.get("BYO_ASGI_SLOW_SECS", "0.25"))

stats: dict[str, Any] = {}


def reset() -> None:
    stats.update(queries_in_threads=0, queries_on_loop=0, query_threads=[], slow_callbacks=[])


reset()


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    if _loop_running_here():
        stats["queries_on_loop"] += 1
    else:
        stats["queries_in_threads"] += 1
        name = threading.current_thread().name
        if name not in stats["query_threads"]:
            stats["query_threads"].append(name)
    return execute(sql, params, many, context)


def _instrument(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


connection_created.connect(_instrument)


class _SlowCallbacks(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing") and " took " in message:
            stats["slow_callbacks"].append(message[:500])


logging.getLogger("asyncio").addHandler(_SlowCallbacks())


async def _answer(send: Any, body: dict[str, Any]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = SLOW_CALLBACK_SECS
        if scope["path"].startswith("/__test/"):
            action = scope["path"].removeprefix("/__test/")
            if action == "advance":
                clock.advance(float(parse_qs(scope["query_string"].decode())["seconds"][0]))
            elif action == "reset":
                reset()
            return await _answer(send, {**stats, "loop_debug": loop.get_debug()})
    await django_application(scope, receive, send)
