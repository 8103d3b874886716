"""Query-string lookups the admin refuses: none may touch a secret column.

Django's changelist turns any ``?field__lookup=value`` on a local field into a filter, so
``?token_hash__startswith=ab`` answers "is there a row whose hash starts with ab?": a
view-only user could recover a whole hash one character at a time. Every ``ModelAdmin`` of
ours refuses a lookup path that reaches one of these columns (directly or through a
relation, e.g. ``retired_tokens__token_hash``); Django answers 400 (DisallowedModelAdminLookup).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

from ..models import RetiredToken, Session, SigningKey, UsedProof


def secret_columns() -> frozenset[tuple[type[Model], str]]:
    """(model, field) pairs whose values must never be filterable: token and proof hashes,
    ``request.session`` data, the encrypted signing keys and the user's password hash."""
    return frozenset(
        {
            (Session, "token_hash"),
            (Session, "previous_token_hash"),
            (Session, "data"),
            (RetiredToken, "token_hash"),
            (UsedProof, "jti_hash"),
            (SigningKey, "private_key_encrypted"),
            (get_user_model(), "password"),
        }
    )


def touches_secret(model: type[Model], lookup: str) -> bool:
    """Whether ``lookup`` (a changelist query key) reaches a secret column of ``model`` or
    of a model it relates to; the parts after a plain field are transforms and lookups."""
    secrets = secret_columns()
    for part in lookup.split(LOOKUP_SEP):
        try:
            field: Any = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # Django ignores (or refuses) an unknown name itself
        if any(issubclass(model, secret_model) and part == name for secret_model, name in secrets):
            return True
        path_infos = getattr(field, "path_infos", None)
        if not path_infos:
            return False
        model = path_infos[-1].to_opts.model
    return False


class SecretSafeAdmin(admin.ModelAdmin):
    """Base of every ModelAdmin here: Django's lookup rules, minus any path to a secret column."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if touches_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)
