"""The code of docs/api/rest.md runs as written: its Python blocks are the urlconfs used here."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
from django.test import Client, override_settings

from byo_sessions import sessions

DOC = Path(__file__).resolve().parents[2] / "docs" / "api" / "rest.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)

pytestmark = pytest.mark.django_db


def urlconf(name: str, source: str) -> str:
    module = types.ModuleType(name)
    exec(compile(source, f"{DOC}:{name}", "exec"), module.__dict__)
    sys.modules[name] = module
    return name


def test_the_page_has_the_two_blocks_this_test_runs():
    assert len(BLOCKS) == 2


def test_setup_block_mounts_the_api(user):
    token = sessions.create(user_id=user.pk).data.session_token
    with override_settings(ROOT_URLCONF=urlconf("rest_doc_setup", BLOCKS[0])):
        assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/byo/sessions/").status_code == 200


def test_permissions_block_asks_more_of_two_routes(user):
    plain = sessions.create(user_id=user.pk).data.session_token
    admin = sessions.create(user_id=user.pk, tags=["role:admin"]).data.session_token
    with override_settings(ROOT_URLCONF=urlconf("rest_doc_permissions", BLOCKS[1])):
        refused = Client(HTTP_AUTHORIZATION=f"Bearer {plain}").get("/api/byo/devices/")
        assert refused.status_code == 403 and refused.json()["type"] == "MissingRequiredTags"
        assert Client(HTTP_AUTHORIZATION=f"Bearer {admin}").get("/api/byo/devices/").status_code == 200
        unsigned = Client(HTTP_AUTHORIZATION=f"Bearer {admin}").delete("/api/byo/devices/dev_x/")
        assert unsigned.status_code == 401 and unsigned.json()["type"] == "DeviceVerificationRequired"
        assert Client(HTTP_AUTHORIZATION=f"Bearer {plain}").get("/api/byo/sessions/").status_code == 200
