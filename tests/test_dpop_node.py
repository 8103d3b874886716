"""RFC 9449 signalling (``http.dpop_headers``) driven by panva's npm ``dpop``.

``dpop_node_check.mjs`` signs every proof with ``dpop``'s ``generateKeyPair``/``generateProof``
and takes the nonce only from the ``DPoP-Nonce`` header: a standard client's dance. A
proof without a nonce gets our 425 with ``DPoP-Nonce`` and ``WWW-Authenticate: DPoP
error="use_dpop_nonce"``, the retry with that nonce a 200 (a ``login_required`` view and a
DRF view). ``scripts/node_dpop.sh`` installs the pinned package into ``.node-dpop/``:
without node or the package the test skips, unless CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

import byo_sessions
from byo_sessions.models import Session
from tests.node_packages import ROOT, installed_npm_package
from tests.urls import urlpatterns as base_urlpatterns

DPOP_VERSION = "2.1.2"  # keep in step with scripts/node_dpop.sh
DPOP_DIR = ROOT / ".node-dpop"
SCRIPT = Path(__file__).with_name("dpop_node_check.mjs")
USERNAME = "dpop-user"


@csrf_exempt  # a script's login: no CSRF cookie to echo
def dpop_login(request: HttpRequest) -> JsonResponse:
    """Log in with the request's ``DPoP`` proof as the device registration; answer the token."""
    user = get_user_model().objects.get(username=request.POST["username"])
    result = byo_sessions.login(request, user)
    if byo_sessions.is_err(result):
        return JsonResponse({"type": str(result.error.type), "details": result.error.details}, status=400)
    return JsonResponse({"token": result.data.session_token})


urlpatterns = [*base_urlpatterns, path("dpop-login/", dpop_login)]
pytestmark = [pytest.mark.urls(__name__)]


@pytest.fixture
def dpop_dir() -> Path:
    return installed_npm_package("dpop", DPOP_VERSION, DPOP_DIR, "node_dpop.sh")


def run_node(base_url: str, dpop_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "BYO_BASE_URL": base_url, "BYO_DPOP_DIR": str(dpop_dir), "BYO_USERNAME": USERNAME}
    done = subprocess.run(["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"node exited {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    return json.loads(done.stdout)


@pytest.mark.node
@pytest.mark.django_db(transaction=True)
def test_panva_dpop_retries_with_the_dpop_nonce_header(dpop_dir, live_server):
    get_user_model().objects.create_user(username=USERNAME, password="pw")
    seen = run_node(live_server.url, dpop_dir)
    assert "threw" not in seen, seen["threw"]
    assert seen["dpopVersion"] == DPOP_VERSION
    steps = seen["steps"]
    assert steps["login"]["status"] == 200, steps["login"]
    row = Session.objects.get(ended_at__isnull=True)
    assert row.device is not None and row.device_thumbprint == seen["thumbprint"]  # dpop's key is bound

    for prefix in ("view", "drf"):
        first, retry = steps[f"{prefix}First"], steps.get(f"{prefix}Retry")
        assert first["status"] == 425, first
        assert first["headers"]["www-authenticate"] == 'DPoP error="use_dpop_nonce", algs="ES256"'
        assert first["headers"]["dpop-nonce"] == first["json"]["deviceChallenge"]  # device.js reads the body
        assert "no-store" in first["headers"]["cache-control"]
        assert retry is not None and retry["status"] == 200, retry  # the retry carried the header's nonce
        assert retry["json"]["user"] == USERNAME

    no_proof = steps["noProof"]
    assert (no_proof["status"], no_proof["json"]["type"]) == (401, "DeviceVerificationRequired")
    assert no_proof["headers"]["www-authenticate"] == 'DPoP algs="ES256"'
    assert "dpop-nonce" not in no_proof["headers"]
    for name in ("otherKey", "otherKeyDrf"):
        refused = steps[name]
        assert refused["status"] == 401, refused
        assert refused["headers"]["www-authenticate"] == 'DPoP error="invalid_dpop_proof", algs="ES256"'
        assert "dpop-nonce" not in refused["headers"]
