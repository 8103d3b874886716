"""The WSGI app gunicorn serves for ``bench_requests.py --http``: every stack's handler
(``benchmarks/stacks.py``), chosen by the request's ``X-Bench-Stack`` header, so one
server with warm workers serves all stacks and rounds can interleave. The database comes
from the ``BYO_BENCH_*`` environment the benchmark passes on."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import django  # noqa: E402

django.setup()

from benchmarks.stacks import STACK_HEADER, build_handlers  # noqa: E402

_handlers = build_handlers()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    handler = _handlers.get(environ.get(STACK_HEADER, ""))
    if handler is None:
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"unknown X-Bench-Stack\n"]
    return handler(environ, start_response)
