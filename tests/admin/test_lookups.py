"""Secret columns cannot be queried from the admin (admin/lookups.py).

The attack: ``?token_hash__startswith=<prefix>`` on the session list answers whether a row
matches, so a view-only user recovered a whole token hash in about 500 requests.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model

from byo_sessions import sessions
from byo_sessions.admin.lookups import SecretSafeAdmin, touches_secret
from byo_sessions.models import AuditEvent, Device, Session
from byo_sessions.services import signing_keys

pytestmark = pytest.mark.django_db

SESSIONS = "/admin/byo_sessions/session/"
SECRET_LOOKUPS = [
    (SESSIONS, "token_hash__startswith"),
    (SESSIONS, "token_hash"),
    (SESSIONS, "token_hash__exact"),
    (SESSIONS, "previous_token_hash__startswith"),
    (SESSIONS, "data__contains"),
    (SESSIONS, "retired_tokens__token_hash__startswith"),
    (SESSIONS, "user__password__startswith"),
    (SESSIONS, "user__byo_sessions__token_hash__startswith"),
    ("/admin/byo_sessions/device/", "sessions__token_hash__startswith"),
    ("/admin/byo_sessions/device/", "sessions__data__icontains"),
    ("/admin/byo_sessions/device/", "user__password__startswith"),
    ("/admin/byo_sessions/signingkey/", "private_key_encrypted__startswith"),
]


def test_every_registered_admin_of_ours_refuses_secret_lookups():
    ours = [
        model_admin for model, model_admin in admin.site._registry.items() if model._meta.app_label == "byo_sessions"
    ]
    assert ours and all(isinstance(model_admin, SecretSafeAdmin) for model_admin in ours)


@pytest.mark.parametrize("url,lookup", SECRET_LOOKUPS)
def test_a_secret_lookup_is_a_400_even_for_a_superuser(admin_client, user, url, lookup):
    session = sessions.create(user_id=user.pk).data
    signing_keys.signing_key()
    prefix = Session.objects.get(pk=session.session_id).token_hash[:1]
    response = admin_client.get(url, {lookup: prefix})
    assert response.status_code == 400


def test_the_hash_oracle_is_closed_for_view_only_staff(staff_client, user):
    client = staff_client("view_session")
    session = sessions.create(user_id=user.pk).data
    token_hash = Session.objects.get(pk=session.session_id).token_hash
    assert client.get(SESSIONS, {"token_hash__startswith": token_hash[:2]}).status_code == 400
    assert client.get(SESSIONS, {"token_hash": token_hash}).status_code == 400


def test_a_secret_column_is_not_a_to_field_either(admin_client):
    assert admin_client.get(SESSIONS, {"_to_field": "token_hash"}).status_code == 400


@pytest.mark.parametrize(
    "url,query",
    [
        (SESSIONS, {"status": "active"}),
        (SESSIONS, {"end_reason": "admin"}),
        (SESSIONS, {"created_at__year": "2026"}),
        (SESSIONS, {"q": "alice"}),
        (SESSIONS, {"user__id__exact": "1"}),
        (SESSIONS, {"last_ip_address": "203.0.113.7"}),
        ("/admin/byo_sessions/device/", {"remembered__exact": "1"}),
        ("/admin/byo_sessions/auditevent/", {"event_type__exact": "session_created"}),
        ("/admin/byo_sessions/signingkey/", {"kid__startswith": "k"}),
    ],
)
def test_ordinary_filters_still_work(admin_client, user, url, query):
    sessions.create(user_id=user.pk)
    assert admin_client.get(url, query).status_code == 200


def test_ordinary_filters_still_select_rows(admin_client, user, other_user):
    mine = sessions.create(user_id=user.pk).data
    theirs = sessions.create(user_id=other_user.pk).data
    sessions.invalidate_by_id(session_id=theirs.session_id, reason="admin")
    page = admin_client.get(SESSIONS, {"end_reason": "admin"}).content.decode()
    assert theirs.session_id in page and mine.session_id not in page
    assert AuditEvent.objects.filter(session_id=theirs.session_id).exists()


@pytest.mark.parametrize(
    "model,lookup,secret",
    [
        (Session, "token_hash__startswith", True),
        (Session, "retired_tokens__token_hash", True),
        (Session, "user__password", True),
        (Device, "sessions__previous_token_hash__in", True),
        (get_user_model(), "byo_sessions__data__contains", True),
        (Session, "device__thumbprint", False),  # a public key's thumbprint, not a secret
        (Session, "metadata__token_hash", False),  # a JSON key of a plain column
        (Session, "user__username__startswith", False),
        (Session, "no_such_field", False),
    ],
)
def test_touches_secret_follows_relations(model, lookup, secret):
    assert touches_secret(model, lookup) is secret
