"""Owners: whose session (or device) this is, and the owner's rows.

A session belongs to a Django user (``user_id``, the pk) or, when the session server
serves another backend, to the caller's own string id (``external_user_id``); a
visitor's data-only session has neither. Callers name an owner with exactly one of the
two; ``resolve`` / ``sessions_of`` turn that into an ``Owner`` or its sessions, or a
typed ``Err`` (naming no owner, or both, is an error, never "everyone").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from ..core.tags import TagFormatError, normalise_tags
from ..core.text import unstorable_reason
from ..models import Device, Session, SessionQuerySet, SessionTag
from ..values import Err, ErrorType, err
from .locks import lock_for_transaction

MAX_EXTERNAL_USER_ID_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Owner:
    user_id: Any = None
    external_user_id: str | None = None

    @classmethod
    def of(cls, row: Session | Device) -> Owner:
        """The owner of a session or device row."""
        return cls(user_id=row.user_id, external_user_id=row.external_user_id)

    @property
    def ref(self) -> str:
        """The owner as a string (audit rows, signals, the ``sub`` of stateless tokens)."""
        return str(self.user_id) if self.user_id is not None else str(self.external_user_id)

    def sessions(self) -> SessionQuerySet:
        if self.user_id is not None:
            return Session.objects.filter(user_id=self.user_id)
        return Session.objects.filter(external_user_id=self.external_user_id)

    def devices(self) -> QuerySet[Device]:
        if self.user_id is not None:
            return Device.objects.filter(user_id=self.user_id)
        return Device.objects.filter(external_user_id=self.external_user_id)

    def lock(self) -> None:
        """Serialise session creation and device binding per owner until the current
        transaction ends (``locks.py``: an advisory lock on PostgreSQL)."""
        kind = "u" if self.user_id is not None else "x"
        lock_for_transaction(f"{kind}:{self.ref}")


def _exactly_one(user_id: Any, external_user_id: str | None) -> Err | None:
    if (user_id is None) == (external_user_id is None):
        return err(ErrorType.UNKNOWN_USER, "Pass exactly one of user_id and external_user_id.")
    return None


def external_id_error(external_user_id: Any) -> Err | None:
    """Why ``external_user_id`` cannot name an owner (not text, empty, too long, unstorable)."""
    if (
        not isinstance(external_user_id, str)
        or not external_user_id.strip()
        or len(external_user_id) > MAX_EXTERNAL_USER_ID_LENGTH
    ):
        return err(ErrorType.UNKNOWN_USER, "external_user_id must be a non-empty string of at most 255 chars.")
    reason = unstorable_reason(external_user_id)
    if reason is not None:
        return err(ErrorType.UNKNOWN_USER, f"external_user_id cannot be stored: {reason}.")
    return None


def resolve(user_id: Any, external_user_id: str | None) -> Owner | Err:
    """The owner a new session or stateless token is for: an existing, active Django user
    (one query), or a well-formed external id (no query)."""
    refused = _exactly_one(user_id, external_user_id)
    if refused is not None:
        return refused
    if external_user_id is not None:
        refused = external_id_error(external_user_id)
        return refused if refused is not None else Owner(external_user_id=external_user_id)
    user_model = get_user_model()
    try:
        state = user_model._default_manager.filter(pk=user_id).values_list("is_active", flat=True).first()
    except (TypeError, ValueError):
        state = None
    if state is None:
        return err(ErrorType.UNKNOWN_USER, "No such user.")
    if state is False:
        return err(ErrorType.USER_INACTIVE, "The user is inactive.")
    return Owner(user_id=user_model._meta.pk.to_python(user_id))


def named(user_id: Any, external_user_id: str | None) -> Owner | Err:
    """The owner these ids name, without a query (the user need not exist or be active):
    for reads and endings, where a missing user simply has no rows."""
    refused = _exactly_one(user_id, external_user_id)
    if refused is not None:
        return refused
    if external_user_id is not None:
        refused = external_id_error(external_user_id)
        return refused if refused is not None else Owner(external_user_id=external_user_id)
    try:
        return Owner(user_id=get_user_model()._meta.pk.to_python(user_id))
    except (TypeError, ValueError, ValidationError):
        return err(ErrorType.UNKNOWN_USER, "No such user.")


def sessions_of(user_id: Any = None, external_user_id: str | None = None) -> SessionQuerySet | Err:
    """The named owner's sessions (no query; the user need not exist or be active)."""
    refused = _exactly_one(user_id, external_user_id)
    if refused is not None:
        return refused
    if external_user_id is not None:
        refused = external_id_error(external_user_id)
        return refused if refused is not None else Session.objects.filter(external_user_id=external_user_id)
    try:
        return Session.objects.filter(user_id=user_id)
    except (TypeError, ValueError):
        return err(ErrorType.UNKNOWN_USER, "No such user.")


def with_tags(queryset: SessionQuerySet, session_tags: Any) -> SessionQuerySet | Err:
    """Narrow to sessions carrying every tag; a malformed selection is an error, never "all"."""
    if session_tags is None:
        return queryset
    try:
        tags = normalise_tags(session_tags)
    except TagFormatError as exc:
        return err(ErrorType.INVALID_TAG_FORMAT, exc.reason, tag=exc.tag)
    for tag in tags:
        queryset = queryset.filter(id__in=SessionTag.objects.filter(tag=tag).values("session_id"))
    return queryset


def sessions_with_tags(user_id: Any, external_user_id: str | None, session_tags: Any) -> SessionQuerySet | Err:
    """The owner's sessions carrying every tag of ``session_tags``: what the bulk calls select."""
    owned = sessions_of(user_id, external_user_id)
    if isinstance(owned, Err):
        return owned
    return with_tags(owned, session_tags)
