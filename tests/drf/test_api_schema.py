"""The self-service REST API's OpenAPI schema (drf-spectacular): generated, valid, checked in
as docs/api/openapi.yaml, and honoured: schemathesis sends requests generated from it and
no answer is a 500 or off the schema.

After changing the API, write the file again with
``BYO_WRITE_SCHEMA=1 python -m pytest tests/drf/test_api_schema.py -k checked_in``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiYamlRenderer
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings

from byo_sessions import sessions

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"
PATTERNS = [path("api/byo/", include("byo_sessions.drf.urls"))]  # as tests/urls.py mounts it


def generate() -> dict:
    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=PATTERNS).get_schema(request=None, public=True)
    # drf-spectacular's own contrib modules warn about dj-rest-auth (installed for other tests);
    # nothing else may warn, and nothing may fail.
    ours = [w for w in GENERATOR_STATS._warn_cache if "dj_rest_auth" not in w]
    assert not ours and not GENERATOR_STATS._error_cache, (ours, dict(GENERATOR_STATS._error_cache))
    return schema


def as_yaml(schema: dict) -> str:
    return OpenApiYamlRenderer().render(schema, renderer_context={}).decode()


def test_schema_is_valid_openapi_and_describes_every_route():
    schema = generate()
    validate_schema(schema)
    operations = {(p, m): op["operationId"] for p, item in schema["paths"].items() for m, op in item.items()}
    assert operations == {
        ("/api/byo/sessions/", "get"): "sessions_list",
        ("/api/byo/sessions/end-others/", "post"): "sessions_end_others",
        ("/api/byo/sessions/{session_id}/", "delete"): "sessions_end",
        ("/api/byo/devices/", "get"): "devices_list",
        ("/api/byo/devices/{device_id}/", "delete"): "devices_revoke",
    }
    assert set(schema["components"]["securitySchemes"]) == {"byoSessionBearer", "byoSessionCookie"}
    listing = schema["paths"]["/api/byo/sessions/"]["get"]
    assert listing["security"] == [{"byoSessionBearer": []}, {"byoSessionCookie": []}]  # either, not both
    assert schema["paths"]["/api/byo/sessions/{session_id}/"]["delete"]["responses"]["404"]


def test_schema_is_checked_in():
    text = as_yaml(generate())
    if os.environ.get("BYO_WRITE_SCHEMA") == "1":
        CHECKED_IN.write_text(text)
    assert CHECKED_IN.read_text() == text, "the API changed: write docs/api/openapi.yaml again (module docstring)"


# Built at collection (no database needed); requests go through Django's whole stack, in process.
api = schemathesis.openapi.from_dict(SchemaGenerator(patterns=PATTERNS).get_schema(request=None, public=True))
api.app = get_wsgi_application()


@pytest.fixture
def connection_kept():
    """What Django's test client does around a request: the raw WSGI handler would close the
    database connection when a request finishes, and with it the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@api.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_no_500_and_answers_match_the_schema(case, user, connection_kept):
    """A fresh session per example: an example that ends it must not weaken the next."""
    token = sessions.create(user_id=user.pk, ip_address="127.0.0.1").data.session_token
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
