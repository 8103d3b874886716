"""From ``django.contrib.sessions`` to byo sessions without logging anyone out.

While ``BYO_SESSIONS["MIGRATE_DJANGO_SESSIONS"]`` is on, ``SessionMiddleware`` hands
``upgrade()`` each request whose session cookie is not one of our tokens. The cookie is
read as what it was, a key of Django's database backend, by Django's own code: its
store loads the row (expiry, signed data) and ``django.contrib.auth.get_user()`` checks
the user (backend, active, session auth hash, ``SECRET_KEY_FALLBACKS``). Then:

* a logged-in, active user: a session of ours for that user, carrying the same data
  (tags and metadata from the adapter's ``login_options``, as at any login), audited as
  ``session_migrated``;
* a visitor with data (a cart, a pending login step): a visitor's session of ours with
  that data, so nothing the visitor did is lost;
* the old row is deleted and the response sets our cookie in place of Django's.

Anything else (an unknown or expired key, a password changed since, an inactive user,
a policy that refuses the session) is an unknown token, as without the setting. With the
setting off the middleware does not call ``upgrade()``; for our tokens and for Bearer
requests it does no work at all.

This is an edge module: it reads a request and Django's table; the sessions are created
by the service layer (``services/engine.migrate_django_session``). ``remaining()`` and
``clear_expired()`` serve ``manage.py byo_django_sessions``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import SESSION_KEY, get_user
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.http import HttpRequest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from . import http
from .adapter import get_adapter
from .backends.db import SessionStore
from .core.tokens import is_well_formed
from .services import engine
from .values import ClientInfo, Err, LoginOptions, PresentedToken

logger = logging.getLogger("byo_sessions")


@sensitive_variables()  # session keys and tokens in locals: keep them out of error reports
def upgrade(
    request: HttpRequest, presented: PresentedToken | None, store_class: type[SessionStore]
) -> SessionStore | None:
    """The store of a request whose cookie holds a Django session worth keeping, keyed
    by the new token (validated as usual when the view is known); None otherwise, and the
    middleware builds the usual store. Called only while ``MIGRATE_DJANGO_SESSIONS`` is on."""
    if presented is None or presented.transport != "cookie" or is_well_formed(presented.value):
        return None
    client = http.client_info(request, presented.transport)
    token = _migrate(request, client, presented.value, store_class)
    if token is None:
        return None
    store = store_class(token, request=request, client=client)
    store.key_changed = True  # the browser holds Django's key: the response sets ours
    return store


class _OldSessionRequest:
    """All that ``django.contrib.auth.get_user()`` reads of a request: its session."""

    def __init__(self, session: DjangoSessionStore) -> None:
        self.session = session


@sensitive_variables()  # session keys and tokens in locals: keep them out of error reports
def _migrate(request: HttpRequest, client: ClientInfo, key: str, store_class: type[SessionStore]) -> str | None:
    """The token of the session ``key`` became, or None when there is nothing to keep."""
    old = DjangoSessionStore(key)
    data = dict(old.items())  # Django's load: an unknown, expired or tampered row reads as {}
    if old.session_key is None:  # no such live row: a request racing this one may just have moved it
        return engine.recently_migrated(django_session_key=key)
    user: Any = None
    if SESSION_KEY in data:
        user = get_user(_OldSessionRequest(old))  # type: ignore[arg-type]  # flushes a stale hash's row
        if not user.is_authenticated or not getattr(user, "is_active", True):
            old.delete()  # the cookie is cleared by this response: the row can serve no one
            return None
        data = dict(old.items())  # after a fallback secret matched, get_user() stored the current hash
    if not data:
        old.delete()
        return None
    options = get_adapter().login_options(request, user) if user is not None else LoginOptions()
    result = engine.migrate_django_session(
        django_session_key=key,
        user_id=user.pk if user is not None else None,
        session_data=store_class().encode(data),
        ip_address=client.ip_address,
        user_agent=client.user_agent,
        tags=options.tags,
        metadata=options.metadata,
        expires_at=old.get_expiry_date() if data.get("_session_expiry") else None,
    )  # set_expiry() kept
    old.delete()  # after get_user()'s cycle_key() (a fallback secret) this is its new row
    if isinstance(result, Err):  # refused by policy (audited there): the user logs in again
        logger.info(
            "byo_sessions: a django.contrib.sessions session was not migrated: %s (%s)",
            result.error.type,
            result.error.details.get("reason", ""),
        )
        return None
    return result.data


# --- what is left (manage.py byo_django_sessions) --------------------------------------------


@dataclass(frozen=True, slots=True)
class Remaining:
    live: int  # not expired: a browser may still bring each of these
    logged_in: int  # of the live ones, those that name a user (the rest are visitors' data)
    expired: int  # dead rows nobody prunes now that SESSION_ENGINE is ours (clearsessions prunes ours)


def remaining() -> Remaining:
    """Count the rows of ``django.contrib.sessions`` (live ones are decoded, in chunks, to
    tell users' from visitors')."""
    model = DjangoSessionStore.get_model_class()
    now = timezone.now()
    decoder = DjangoSessionStore()
    live = logged_in = 0
    for text in (
        model.objects.filter(expire_date__gt=now).values_list("session_data", flat=True).iterator(chunk_size=2000)
    ):
        live += 1
        logged_in += SESSION_KEY in decoder.decode(text)
    return Remaining(live=live, logged_in=logged_in, expired=model.objects.filter(expire_date__lte=now).count())


def clear_expired() -> int:
    """Delete the expired rows (what ``clearsessions`` did under Django's engine)."""
    deleted, _ = DjangoSessionStore.get_model_class().objects.filter(expire_date__lte=timezone.now()).delete()
    return deleted
