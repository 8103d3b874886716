"""Owners (services/owners.py): naming a session's owner, the owner's rows, tag narrowing."""

from __future__ import annotations

import pytest
from django.db import transaction

from byo_sessions import ErrorType, sessions
from byo_sessions.models import Session
from byo_sessions.services import owners
from byo_sessions.services.owners import Owner

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("user_id, external_user_id", [(None, None), (1, "x")])
def test_exactly_one_kind_of_owner(user_id, external_user_id):
    for answer in (owners.resolve(user_id, external_user_id), owners.sessions_of(user_id, external_user_id)):
        assert answer.error.type == ErrorType.UNKNOWN_USER
        assert "exactly one" in answer.error.message


def test_resolve_needs_an_existing_active_user(user):
    assert owners.resolve(user.pk, None) == Owner(user_id=user.pk)
    assert owners.resolve(str(user.pk), None) == Owner(user_id=user.pk)  # as the model types it
    assert owners.resolve(user.pk + 1000, None).error.type == ErrorType.UNKNOWN_USER
    assert owners.resolve("not-a-pk", None).error.type == ErrorType.UNKNOWN_USER
    user.is_active = False
    user.save()
    assert owners.resolve(user.pk, None).error.type == ErrorType.USER_INACTIVE


@pytest.mark.parametrize("bad", ["", "   ", "x" * 256, 42, "nul\x00byte"])
def test_a_malformed_external_id_names_no_owner(bad):
    assert owners.external_id_error(bad).error.type == ErrorType.UNKNOWN_USER
    assert owners.resolve(None, bad).error.type == ErrorType.UNKNOWN_USER
    assert owners.sessions_of(external_user_id=bad).error.type == ErrorType.UNKNOWN_USER


def test_sessions_of_selects_only_that_owners_sessions(user, other_user):
    mine = sessions.create(user_id=user.pk).data.session_id
    sessions.create(user_id=other_user.pk)
    theirs = sessions.create(external_user_id="u-1").data.session_id
    assert list(owners.sessions_of(user.pk).values_list("id", flat=True)) == [mine]
    assert list(owners.sessions_of(external_user_id="u-1").values_list("id", flat=True)) == [theirs]
    assert owners.sessions_of(user_id="abc").error.type == ErrorType.UNKNOWN_USER
    assert Owner.of(Session.objects.get(pk=theirs)).sessions().get().pk == theirs


def test_with_tags_narrows_to_sessions_carrying_every_tag(user):
    both = sessions.create(user_id=user.pk, tags=["org:a", "role:b"]).data.session_id
    sessions.create(user_id=user.pk, tags=["org:a"])
    selected = owners.sessions_with_tags(user.pk, None, ["org:a", "role:b"])
    assert list(selected.values_list("id", flat=True)) == [both]
    assert owners.with_tags(Session.objects.all(), None).count() == 2  # no selection: all of them


@pytest.mark.parametrize("tags", [["no colon"], "org:a", [1]])
def test_a_malformed_tag_selection_is_an_error_never_all(user, tags):
    sessions.create(user_id=user.pk, tags=["org:a"])
    assert owners.with_tags(Session.objects.all(), tags).error.type == ErrorType.INVALID_TAG_FORMAT


def test_owner_ref_and_lock(user):
    assert Owner(user_id=7).ref == "7" and Owner(external_user_id="u-1").ref == "u-1"
    with transaction.atomic():  # transaction-scoped: a no-op on SQLite, an advisory lock on PostgreSQL
        Owner(user_id=user.pk).lock()
        Owner(external_user_id=str(user.pk)).lock()  # another key: never the same lock as the user's
