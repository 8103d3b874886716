"""Run one callable from many threads at once (for the PostgreSQL concurrency tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def run_in_parallel(n: int, target: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """Start ``n`` threads that wait on a barrier, then all call ``target``; return the
    results (an exception object where a call raised). Each thread closes its own DB
    connection. A thread still running after ``timeout`` fails the test: a hung call
    must not pass as a missing result."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target()
        except Exception as exc:  # surfaced by the callers' assertions
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    hung = sum(thread.is_alive() for thread in threads)
    assert not hung, f"{hung} of {n} threads still running after {timeout} s (a deadlock?)"
    return results
