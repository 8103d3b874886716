"""``GET .well-known/jwks.json``: the public keys that verify stateless tokens.

Plain Django (no DRF negotiation: a JWKS is always JSON) and session-exempt (a public
document; the session middleware need not look at the request). Served from the
in-process key set, so it costs no query most of the time. Caches may keep it 300 s,
which is why a rotation should publish the next key at least that long before it
becomes default. With no recent enough key set (the database is down and the last good
set is missing or too old) it answers 503 JSON that no cache may keep.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .. import http
from ..decorators import session_exempt
from ..services.signing_keys import get_jwks
from ..values import Err

CACHE_CONTROL = "public, max-age=300"


@login_not_required  # a public document, also under LoginRequiredMiddleware
@session_exempt
@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    result = get_jwks()
    if isinstance(result, Err):
        response = JsonResponse(http.error_body(result.error), status=http.status_for(result.error))
        response["Cache-Control"] = "no-store"  # a cached outage would outlive it
        return response
    response = JsonResponse(result.data)
    response["Cache-Control"] = CACHE_CONTROL
    return response
