"""Receivers that tie Django's auth events to byo sessions (connected in ``apps.py``).

* ``user_logged_in``: ``auth.login()`` has put a user into ``request.session``; the store
  creates that user's session now (``SessionStore.establish_login``).
* A saved user whose password hash changed ends the user's other sessions at once (ASVS
  3.3.3), whatever path changed it: ``PasswordChangeView``, the admin's password forms,
  a reset link, ``changepassword``, dj-rest-auth, ``set_password()`` + ``save()`` in code.
  The session of the request that made the change continues (``update_session_auth_hash``
  then rotates its token). A change made around ``save()`` (a queryset ``update()``) is
  caught at the next request by the session auth hash, as in Django.
* A deleted user's sessions are recorded for stateless-token revocation when it is on
  (``services/revocation.py``): the cascade deletes them without ending them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save, pre_delete, pre_save
from django.http import HttpRequest

from .backends.db import SessionStore
from .middleware import current_store
from .services import ending, engine

_CHANGED = "_byo_password_changed"


def establish_session_at_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    store = getattr(request, "session", None)
    if isinstance(store, SessionStore):
        store.establish_login(user)


def note_password_change(sender: Any, instance: Any, raw: bool, update_fields: Any, **kwargs: Any) -> None:
    """Before a user row is saved, compare its password hash with the stored one. A read per
    save of a user (rare) rather than a receiver on every user instance built (each request)."""
    if (
        raw
        or instance.pk is None
        or "password" not in instance.__dict__
        or (update_fields is not None and "password" not in update_fields)
    ):
        return
    stored = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance.__dict__[_CHANGED] = stored is not None and stored != instance.password


def end_sessions_after_password_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    if not instance.__dict__.pop(_CHANGED, False):
        return
    store = current_store.get()
    kept = store.byo_session_or_none() if store is not None else None
    keep_id = kept.session_id if kept is not None and kept.user_id == instance.pk else None
    engine.end_after_password_change(
        user_id=instance.pk, keep_session_id=keep_id, actor=f"user:{kept.user_id}" if kept is not None else ""
    )


def record_deleted_user_sessions(sender: Any, instance: Any, **kwargs: Any) -> None:
    ending.record_deleted_user(user_id=instance.pk)


def connect() -> None:
    user_model = get_user_model()
    user_logged_in.connect(establish_session_at_login, dispatch_uid="byo_sessions.establish_session_at_login")
    pre_save.connect(note_password_change, sender=user_model, dispatch_uid="byo_sessions.note_password_change")
    post_save.connect(
        end_sessions_after_password_change,
        sender=user_model,
        dispatch_uid="byo_sessions.end_sessions_after_password_change",
    )
    pre_delete.connect(
        record_deleted_user_sessions, sender=user_model, dispatch_uid="byo_sessions.record_deleted_user_sessions"
    )
