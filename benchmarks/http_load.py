"""``bench_requests.py --http``: the same stacks over HTTP, gunicorn sync workers on
loopback loaded by ``wrk``, server and load generator pinned to separate cores.

gunicorn (``benchmarks/wsgi.py``) is pinned with ``taskset`` to the last core, ``wrk`` to
the first (the PostgreSQL server is left unpinned); each stack is loaded for
``--http-secs`` per round, rounds interleaved, and wrk's own requests/s and latency
percentiles are kept. A run with any non-2xx answer or socket error fails. The device
stack's requests each carry a fresh proof: wrk reads proofs signed just before its run
from a file (``wrk_proofs.lua``), and the run fails if it used them all.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import stacks
from benchmarks.stacks import STACKS

ROOT = Path(__file__).resolve().parent.parent
PROOF_RATE = 2000  # proofs signed per second of a device run: above any rate this machine reaches

LUA_PROOFS = r"""
local proofs, i = {}, 0
for line in io.lines(os.getenv("BENCH_PROOFS")) do proofs[#proofs + 1] = line end
request = function()
  i = i + 1
  if i > #proofs then i = 1 end  -- a reused proof fails (jti), and the run with it
  wrk.headers["DPoP"] = proofs[i]
  return wrk.format()
end
"""


@dataclass
class HttpFigures:
    rps: list[float]
    p50_ms: list[float]
    p99_ms: list[float]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cores() -> tuple[str, str] | None:
    """(server core, load core) when there are two to pin to."""
    if not shutil.which("taskset"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return (str(cpus[-1]), str(cpus[0])) if len(cpus) >= 2 else None


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"wrk duration {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) from ``wrk --latency``; raises on errors or non-2xx answers."""
    if "Non-2xx" in output or "Socket errors" in output:
        raise AssertionError(f"wrk saw failures:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _duration_ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _duration_ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    return rps, p50, p99


def _headers(name: str, fixtures: stacks.Fixtures) -> list[str]:
    wsgi = fixtures.headers[name]
    headers = [f"X-Bench-Stack: {name}", f"User-Agent: {stacks.USER_AGENT}"]
    for key, value in wsgi.items():  # HTTP_COOKIE -> Cookie
        headers.append(f"{key[5:].replace('_', '-').title()}: {value}")
    return headers


def _get(url: str, headers: list[str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start_gunicorn(args: argparse.Namespace, cleanup: Any, server_core: str | None) -> tuple[str, Callable[[], None]]:
    """The server's base URL, and what stops it (also pushed on ``cleanup``, for errors)."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "benchmarks.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.http_workers),
        "--worker-class",
        "sync",
        "--log-level",
        "warning",
        "--error-logfile",
        "-",
    ]
    if server_core is not None:
        command = ["taskset", "-c", server_core, *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Its own process group: a kill reaches the workers too, whose connections would
    # otherwise outlive the phase (and keep --flat from copying the database).
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)

    def stop() -> None:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()

    cleanup.push("stop gunicorn", stop)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("error: gunicorn exited at startup")
        try:
            if _get(base + stacks.PATH, ["X-Bench-Stack: noauth"])[0] == 200:
                return base, stop
        except OSError:
            time.sleep(0.2)
    sys.exit("error: gunicorn did not answer within 60 s")


def run(args: argparse.Namespace, fixtures: stacks.Fixtures, cleanup: Any) -> dict[str, HttpFigures]:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("error: --http needs wrk (Debian: apt-get install wrk)")
    cores = _cores()
    server_core, load_core = cores if cores else (None, None)
    base, stop_server = start_gunicorn(args, cleanup, server_core)
    workdir = Path(tempfile.mkdtemp(prefix="byo-bench-http."))
    cleanup.push("remove wrk files", lambda: shutil.rmtree(workdir, ignore_errors=True))
    (workdir / "proofs.lua").write_text(LUA_PROOFS)
    device_url = base + stacks.PATH

    for name in args.names:  # every stack answers right once, before any load
        headers = _headers(name, fixtures)
        if STACKS[name].per_request_proof:
            headers.append(f"DPoP: {fixtures.proofs(1, device_url)[0]}")
        status, body = _get(base + STACKS[name].path, headers)
        if status != 200 or body != stacks.expected_body(name):
            raise AssertionError(f"{name} over HTTP: {status} {body[:200]!r}")

    figures = {name: HttpFigures([], [], []) for name in args.names}
    seconds = max(1, int(round(args.http_secs)))
    pin = ["taskset", "-c", load_core] if load_core is not None else []
    for _round in range(args.http_rounds):
        for name in args.names:
            command = [*pin, wrk, "-t1", f"-c{args.http_connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
            for header in _headers(name, fixtures):
                command += ["-H", header]
            env = dict(os.environ)
            if STACKS[name].per_request_proof:
                fixtures.fresh_challenge()
                proofs = workdir / "proofs.txt"
                proofs.write_text("\n".join(fixtures.proofs(int(PROOF_RATE * seconds), device_url)) + "\n")
                command += ["-s", str(workdir / "proofs.lua")]
                env["BENCH_PROOFS"] = str(proofs)
            command.append(base + STACKS[name].path)
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 60)
            if done.returncode != 0:
                raise AssertionError(f"wrk failed for {name}:\n{done.stdout}{done.stderr}")
            rps, p50, p99 = parse_wrk(done.stdout)
            if STACKS[name].per_request_proof and rps * seconds >= PROOF_RATE * seconds:
                raise AssertionError(f"{name}: wrk ran out of signed proofs; raise PROOF_RATE")
            figures[name].rps.append(rps)
            figures[name].p50_ms.append(p50)
            figures[name].p99_ms.append(p99)
    stop_server()  # its connections would keep --flat from copying the database
    print_http(args, figures, cores)
    return figures


def print_http(args: argparse.Namespace, figures: dict[str, HttpFigures], cores: tuple[str, str] | None) -> None:
    pinned = f"gunicorn on core {cores[0]}, wrk on core {cores[1]}" if cores else "not pinned (one core)"
    print(
        f"\nOVER HTTP: gunicorn {args.http_workers} sync workers, wrk 1 thread {args.http_connections} "
        f"connections, {args.http_rounds} interleaved rounds x {max(1, int(round(args.http_secs)))} s per stack; "
        f"{pinned}; medians over rounds"
    )
    stock = statistics.median(figures["stock"].rps) if "stock" in figures else None
    print(
        f"            {'stack':<11} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'cost/stock':>10}  "
        "(cost/stock = stock req/s / stack req/s)"
    )
    for name, fig in figures.items():
        rps = statistics.median(fig.rps)
        ratio = f"{stock / rps:.2f}" if stock else "-"
        print(
            f"            {name:<11} {rps:>8.0f} {statistics.median(fig.p50_ms):>7.2f} "
            f"{statistics.median(fig.p99_ms):>7.2f} {ratio:>10}"
        )
