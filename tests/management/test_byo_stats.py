"""``manage.py byo_stats``: the overview as text and as JSON, from the same function."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from byo_sessions import sessions

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("byo_stats", *args, stdout=out)
    return out.getvalue()


def test_text_and_json_agree(user):
    sessions.create(user_id=user.pk, tags=["org:acme"])
    ended = sessions.create(user_id=user.pk).data
    sessions.invalidate_by_id(session_id=ended.session_id, reason="logout")
    text = run()
    assert "Active now                       1" in text
    assert "New sessions                     2" in text
    assert "Logged out" in text and "org:acme" in text
    data = json.loads(run("--json", "--window", "7d"))
    assert data["window"] == "7d" and data["active"] == 1 and data["new_sessions"]["points"][-1] == 2
    assert [(e["key"], sum(e["points"])) for e in data["ended"]] == [("logout", 1)]


def test_unknown_window_is_refused():
    with pytest.raises(CommandError, match="invalid choice"):
        run("--window", "1y")
