"""``SESSION_ENGINE = "byo_sessions.backends.db"``: Django's session framework over byo sessions.

``request.session`` is a ``SessionStore`` whose key is the session's raw token (only its
hash is stored) and whose data lives in the session's row. Loading it *is* validation:
one query with the user joined, the policy of the session's tags, rotation when due
(the store then hands out the new key, so the response carries the new cookie) and
theft detection, IP, User-Agent and device rules. So ``django.contrib.auth.login()`` /
``logout()`` / ``get_user()``, ``update_session_auth_hash``, messages, ``CSRF_USE_SESSIONS``,
the test client and every app built on them work unchanged:

* ``auth.login()`` calls ``cycle_key()`` (a visitor's row is dropped, its data kept) and
  then ``user_logged_in`` makes the store create the user's session at once (tags and
  metadata from ``byo_sessions.login`` or the adapter's ``login_options``); a refusal
  by policy raises ``LoginRefused``, which the middleware answers with the typed error.
* ``cycle_key()`` of a logged-in session (``update_session_auth_hash``) rotates its token.
* ``flush()`` ends the session (reason ``logout``); ``clear_expired()`` prunes.
* Visitors get a row only once something is stored for them, with its own short
  lifetime; outside a request (the test client, a shell) IP and User-Agent are unknown
  and the first real request fills them in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase, UpdateError
from django.db import DatabaseError
from django.http import Http404, HttpRequest
from django.urls import resolve as resolve_url
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject, empty
from django.views.decorators.debug import sensitive_variables

from .. import http
from ..adapter import get_adapter
from ..core import clock
from ..core.tokens import new_token
from ..models import EndReason
from ..services import engine, reauthentication, sessions
from ..values import (
    ClientInfo,
    CreatedSession,
    Err,
    ErrorType,
    LoginOptions,
    Ok,
    SessionError,
    ValidatedSession,
    ViewRules,
)

logger = logging.getLogger("byo_sessions")
security_logger = logging.getLogger("django.security.SuspiciousSession")

# Refusals a view marked ``ignore_device_for_verification`` would not have made.
DEVICE_ERRORS = frozenset(
    {
        ErrorType.DEVICE_VERIFICATION_REQUIRED,
        ErrorType.DEVICE_VERIFICATION_FAILED,
        ErrorType.NEW_DEVICE_CHALLENGE_REQUIRED,
    }
)


class LoginRefused(Exception):
    """The session's policy refused a login made through ``django.contrib.auth.login()``
    (a session limit, an IP allowlist, a device proof). The middleware answers it with the
    error's status and JSON body; ``byo_sessions.login`` returns it as ``Err`` instead."""

    def __init__(self, error: SessionError) -> None:
        super().__init__(error.message)
        self.error = error


class SessionStore(SessionBase):
    """``request.session`` backed by a byo session; see the module docstring."""

    def __init__(
        self,
        session_key: str | None = None,
        *,
        request: HttpRequest | None = None,
        transport: str = "cookie",
        client: ClientInfo | None = None,
        conflicting_token: str | None = None,
    ) -> None:
        super().__init__(session_key)
        self.request = request  # None outside a request: IP and User-Agent unknown, no rotation
        self.transport = transport  # "cookie" or "bearer" (Authorization header)
        self._client = client  # built from the request on first use, unless the caller has it already
        self.view_rules = ViewRules()
        self._view_known = False  # the middleware (or a decorator) has passed the view being served
        self._conflicting_token = conflicting_token  # a different token the request also presented
        self._refused_token: str | None = None  # the presented token, kept while a refusal may be revisited
        self.validated: ValidatedSession | None = None  # the live session behind this store, if any
        self.error: SessionError | None = None  # why the presented token was refused
        self.created: CreatedSession | None = None  # a login of this request
        self.key_changed = False  # rotated, re-keyed or created: the response carries session_key
        self.expiry_changed = False  # extended (SLIDING_ABSOLUTE_LIFETIME_SECS): the cookie's Max-Age grows
        self.token_dead = False  # the presented token can never work again: clear the cookie
        self.end_reason: str = EndReason.LOGOUT
        self._stored_data: str | None = None  # the data as last read or written (no-op writes skipped)
        self._user: Any = None
        if session_key and self.session_key is None:  # too short for Django to keep: refused unread
            self.token_dead = True
            self._set_validated(
                None,
                SessionError(
                    ErrorType.INVALID_SESSION_TOKEN,
                    {"message": "The session token is missing or malformed.", "reason": "malformed_token"},
                ),
            )

    # --- what the request edge reads --------------------------------------------------

    def resolve(self, view_func: Callable[..., Any] | None = None) -> None:
        """Validate the presented token now (once), under the view's device rules if known."""
        if view_func is not None:
            self._view_known = True
            rules = _rules_of(view_func)
            if not hasattr(self, "_session_cache"):
                self.view_rules = rules
            elif self._device_demand_unchecked(rules):
                # Loaded before the view was known, under other rules than the view's (a URL
                # resolving differently then, ``_rules_from_url``): validate again under the
                # view's demand, keeping what was written meanwhile.
                self.view_rules = rules
                data, rotated = self._data(no_load=True), self.key_changed
                reloaded = self.load()
                self._session_cache = data if self.validated is not None else reloaded
                self.key_changed = self.key_changed or rotated
                self._user_revised()
            elif self._refused_for_device_only(rules):
                # Refused for want of a device proof the view does not ask for: validate the
                # same token again under the view's rule (nothing was rotated or written).
                self.view_rules = rules
                data, self._session_key = self._data(no_load=True), self._refused_token
                self._session_cache = {**self.load(), **data}
                self._user_revised()
        if self.session_key is not None:
            self._data()

    def _rules_from_url(self) -> None:
        """Something read the session before the view was known (a middleware after ours
        reading ``request.user`` or awaiting ``request.auser()``, CsrfViewMiddleware under
        ``CSRF_USE_SESSIONS``): take the markers of the view the URL resolves to now, as the
        handler will, so they hold whoever reads first. ``resolve(view)`` checks them again
        against the view actually served."""
        request = self.request
        if request is None or self._view_known:
            return
        try:
            match = resolve_url(request.path_info, urlconf=getattr(request, "urlconf", None))
        except Http404:
            return  # no view: the default rules, and the handler answers 404
        if http.view_flag(match.func, "byo_session_exempt"):
            if self.transport == "bearer":
                self._session_key = None  # that view's Authorization header is not a session token
            return
        self.view_rules = _rules_of(match.func)

    def _refused_for_device_only(self, rules: ViewRules) -> bool:
        """The earlier load refused the token for a device reason only and the view ignores
        devices (``ignore_device_for_verification``)."""
        error = self.error
        return (
            rules.ignore_device
            and not self.view_rules.ignore_device
            and self._refused_token is not None
            and error is not None
            and error.type in DEVICE_ERRORS
            and not error.details.get("session_ended")
        )

    def _user_revised(self) -> None:
        """``request.user`` was read before the session was validated again: let it follow."""
        user = self.request.__dict__.get("user") if self.request is not None else None
        if isinstance(user, SimpleLazyObject):
            user._wrapped = empty  # evaluated again (from this store) on next use

    def _device_demand_unchecked(self, rules: ViewRules) -> bool:
        """The view demands a device proof that the earlier load did not verify (it verifies
        a proof it was sent only for a session bound to a device; re-verifying would find
        the proof's ``jti`` spent)."""
        validated = self.validated
        if not rules.device_required or self.view_rules.device_required or validated is None:
            return False
        return not self._proof_checked(validated)

    def _proof_checked(self, validated: ValidatedSession) -> bool:
        """Validation verified this request's proof: one was sent, the session is bound to a
        device and the view did not opt out (``devices.check_request_device``)."""
        sent_proof = self.client.device_verification is not None
        return sent_proof and validated.has_device_registered and not self.view_rules.ignore_device

    @property
    def device_verified(self) -> bool:
        """This request carried a valid proof from the session's device (``DeviceVerified``)."""
        validated = self.byo_session
        return validated is not None and self._proof_checked(validated)

    @property
    def client(self) -> ClientInfo:
        """The request's client as the services need it (IP, User-Agent, ``DPoP`` proof),
        built once per request; all unknown outside a request."""
        if self._client is None:
            request = self.request
            self._client = http.client_info(request, self.transport) if request is not None else ClientInfo()
        return self._client

    def forget_presented_token(self) -> None:
        """The request's Bearer value is not ours (a session-exempt view): an empty store.
        If it was loaded already (read before the view was known, the URL then leading
        elsewhere, ``_rules_from_url``), the view still sees no session: data, user and
        error are dropped. Nothing is ended; a rotation made by that load is not handed
        out, and the old token leads to the new one for ``ROTATION_GRACE_SECS``."""
        self._view_known = True
        self._session_key, self._conflicting_token, self._refused_token = None, None, None
        if hasattr(self, "_session_cache"):
            self._session_cache, self.modified, self.key_changed = {}, False, False
            self._stored_data = None
            self._set_validated(None)
            self._user_revised()

    @property
    def byo_session(self) -> ValidatedSession | None:
        """The user's (or session-server caller's) validated session; None for a visitor."""
        self.resolve()
        validated = self.validated
        return None if validated is None or validated.is_anonymous else validated

    @property
    def user(self) -> Any:
        """The logged-in user, loaded with the session (no second query), after the session
        auth hash check ``django.contrib.auth.get_user()`` makes; else ``AnonymousUser``."""
        if self._user is None:
            self.resolve()
            user = self.validated.user if self.validated is not None else None
            self._user = self._verified(user) if user is not None else None
            if self._user is None:
                self._user = AnonymousUser()
        return self._user

    def _verified(self, user: Any) -> Any:
        data = self._data()
        stored_pk = data.get(SESSION_KEY)
        if stored_pk is None:  # created through the service API, not auth.login(): the row decides
            user.backend = settings.AUTHENTICATION_BACKENDS[0]
            return user
        backend = data.get(BACKEND_SESSION_KEY)
        if str(stored_pk) != user._meta.pk.value_to_string(user) or backend not in settings.AUTHENTICATION_BACKENDS:
            return None
        user.backend = backend
        if not hasattr(user, "get_session_auth_hash"):
            return user
        session_hash = data.get(HASH_SESSION_KEY)
        current = user.get_session_auth_hash()
        if session_hash and constant_time_compare(session_hash, current):
            return user
        if session_hash and any(
            constant_time_compare(session_hash, fallback) for fallback in user.get_session_auth_fallback_hash()
        ):
            self.cycle_key()  # as get_user(): the secret rotated, the session stays
            self[HASH_SESSION_KEY] = current
            return user
        self.end_reason = EndReason.PASSWORD_CHANGED  # the password changed where we did not see it
        self.flush()
        return None

    def _set_validated(self, validated: ValidatedSession | None, error: SessionError | None = None) -> None:
        self.validated, self.error, self._user = validated, error, None
        if self.request is not None:
            self.request.byo_session = self.byo_session_or_none()  # type: ignore[attr-defined]
            self.request.byo_session_error = error  # type: ignore[attr-defined]

    def byo_session_or_none(self) -> ValidatedSession | None:
        """``byo_session`` without triggering a load."""
        validated = self.validated
        return None if validated is None or validated.is_anonymous else validated

    # --- SessionBase ----------------------------------------------------------------------

    def _get_new_session_key(self) -> str:
        return new_token()  # unused by this store (keys come with their row), kept for the base API

    def get_session_cookie_age(self) -> int:
        """The cookie's Max-Age follows the session's absolute end (not SESSION_COOKIE_AGE)."""
        validated = self.validated
        if validated is not None and validated.absolute_expires_at is not None:
            return max(0, int((validated.absolute_expires_at - clock.now()).total_seconds()))
        return settings.SESSION_COOKIE_AGE

    @sensitive_variables()  # raw tokens in locals: keep them out of error reports
    def load(self) -> dict[str, Any]:
        self._rules_from_url()
        token = self.session_key
        if token is None:
            return {}
        try:
            if self._conflicting_token is not None:
                result: Ok[ValidatedSession] | Err = sessions.refuse_conflicting_tokens(
                    session_tokens=(self._conflicting_token, token), client=self.client
                )
            else:
                result = sessions.validate_for_engine(
                    session_token=token,
                    client=self.client,
                    rules=self.view_rules,
                    refresh=self.request is not None,  # only a response can hand a new token to the client
                )
        except DatabaseError:
            logger.exception("byo_sessions: could not validate the session")
            result = Err(
                SessionError(
                    ErrorType.UNEXPECTED_ERROR,
                    {"message": "The session store is unavailable.", "reason": "database_error"},
                )
            )
        self._session_key = None
        if isinstance(result, Err):
            error = result.error
            self.token_dead = self._conflicting_token is None and (
                error.type in http.TERMINAL_ERRORS or bool(error.details.get("session_ended"))
            )
            self._refused_token = token
            self._set_validated(None, error)
            return {}
        self._refused_token = None
        validated = result.data
        self._session_key = validated.new_session_token or token
        # True already for a token the client does not hold yet (a migrated Django session)
        self.key_changed = self.key_changed or validated.new_session_token is not None
        self.expiry_changed = validated.extended
        self._stored_data = validated.session_data
        self._set_validated(validated)
        return self._deserialize(validated.session_data)

    def exists(self, session_key: str | None) -> bool:
        return engine.is_live(session_token=session_key)

    def create(self) -> None:
        """Store the current data in a new row (a user's session when it names a user)."""
        self._create(self._data(no_load=True), user=None)
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._data(no_load=must_create)
        validated = self.validated
        if self.session_key is None or (validated is None and must_create):  # the token turned out dead
            return self.create()
        if validated is None:  # this store's delete() ended it (as a logout elsewhere): never resurrect it
            raise UpdateError
        pk = data.get(SESSION_KEY)
        if pk is not None and (validated.is_anonymous or str(pk) != str(validated.user_id)):
            return self._create(data, user=None)  # a login stored by hand into this store
        serialised = self._serialise(data)
        expiry = self._requested_expiry(data)
        if serialised == self._stored_data and expiry is None:
            return None
        if not engine.save_data(session_id=validated.session_id, session_data=serialised, expires_at=expiry):
            raise UpdateError  # ended meanwhile (a logout elsewhere): never resurrect it
        self._stored_data = serialised
        return None

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        actor = f"user:{self.validated.user_id}" if self.validated is not None and self.validated.user_id else ""
        engine.end_by_token(session_token=session_key, reason=self.end_reason, actor=actor)
        if session_key == self.session_key:
            self.token_dead = True
            self._stored_data = None
            self._set_validated(None)

    def flush(self) -> None:
        super().flush()
        self.token_dead = True  # whatever the cookie held is of no use now: clear it

    def cycle_key(self) -> None:
        """A logged-in session keeps its identity under a new token (password change); a
        visitor's row is dropped and its data moves into the session created next (login)."""
        data = self._data()
        validated = self.validated
        if validated is not None and not validated.is_anonymous and self.session_key is not None:
            new_token = engine.rekey(session_token=self.session_key)
            if new_token is not None:
                self._session_key, self.key_changed = new_token, True
            return
        old_key = self.session_key
        self._session_key = None
        self._session_cache = data
        self.modified = True
        if old_key is not None:
            self.delete(old_key)

    @classmethod
    def clear_expired(cls) -> None:
        engine.prune()

    # --- login ----------------------------------------------------------------------------

    def start_user_session(
        self, user: Any, *, backend: str, options: LoginOptions, actor: str = ""
    ) -> Ok[CreatedSession] | Err:
        """``byo_sessions.login``: a new session for ``user`` carrying this store's data (a
        visitor's cart survives the login; another user's data does not), replacing the
        session the request presented. On ``Err`` nothing changed."""
        data = dict(self._data())
        current = self.validated
        if current is not None and not current.is_anonymous and current.user_id != user.pk:
            data = {}
        data[SESSION_KEY] = user._meta.pk.value_to_string(user)
        data[BACKEND_SESSION_KEY] = backend
        data[HASH_SESSION_KEY] = user.get_session_auth_hash() if hasattr(user, "get_session_auth_hash") else ""
        return self._create_for_user(data, user, options, replaces=self.session_key, actor=actor)

    def establish_login(self, user: Any) -> None:
        """After ``auth.login()`` (``user_logged_in``): create the user's session now, so a
        refusal surfaces in the view and the rest of the request sees the session."""
        validated = self.validated
        if (
            validated is not None
            and not validated.is_anonymous
            and validated.user is not None
            and validated.user_id == user.pk
        ):
            return  # byo_sessions.login already created it, or the same user logged in again
        self._create(self._data(no_load=True), user=user)

    def _create(self, data: dict[str, Any], *, user: Any) -> None:
        pk = data.get(SESSION_KEY)
        if pk is None:
            client = self.client
            created = engine.create_anonymous(
                session_data=self._serialise(data),
                expires_at=self._requested_expiry(data),
                ip_address=client.ip_address,
                user_agent=client.user_agent,
            )
            self._adopt(
                created.session_token,
                data,
                ValidatedSession(
                    session_id=created.session_id,
                    user_id=None,
                    created_at=clock.now(),
                    expires_at=created.expires_at,
                    last_activity_at=clock.now(),
                    tags=(),
                    metadata={},
                    has_device_registered=False,
                    absolute_expires_at=created.expires_at,
                ),
            )
            return
        if user is None:
            user = get_user_model()._default_manager.get(pk=pk)
        chosen = get_adapter().login_options(self.request, user)
        options = LoginOptions(
            tags=chosen.tags,
            metadata=chosen.metadata,  # proofs come through byo_sessions.login
            authentication_factors=chosen.authentication_factors,
        )
        result = self._create_for_user(data, user, options, replaces=self.session_key, actor=f"user:{user.pk}")
        if isinstance(result, Err):
            raise LoginRefused(result.error)

    def _create_for_user(
        self, data: dict[str, Any], user: Any, options: LoginOptions, *, replaces: str | None, actor: str
    ) -> Ok[CreatedSession] | Err:
        client = self.client
        serialised = self._serialise(data)
        result = sessions.create(
            user_id=user.pk,
            tags=options.tags,
            metadata=options.metadata,
            device_registration=options.device_registration,
            replaces_session_token=replaces,
            actor=actor,
            ip_address=client.ip_address,
            user_agent=client.user_agent,
            session_data=serialised,
            expires_at=self._requested_expiry(data),
            authentication=options.authentication_factors
            if options.authentication_factors is not None
            else reauthentication.factors_for_backend(data.get(BACKEND_SESSION_KEY)),
        )
        if isinstance(result, Err):
            return result
        self.created = result.data
        self._adopt(
            result.data.session_token,
            data,
            sessions.as_validated(
                result.data, user=user, tags=options.tags, metadata=options.metadata, session_data=serialised
            ),
        )
        return result

    @sensitive_variables()  # raw tokens in locals: keep them out of error reports
    def _adopt(self, token: str, data: dict[str, Any], validated: ValidatedSession) -> None:
        self._session_key = token
        self._session_cache = data
        self._stored_data = validated.session_data or self._serialise(data)
        self.key_changed, self.token_dead = True, False
        self._set_validated(validated)

    # --- data -----------------------------------------------------------------------------

    def _data(self, no_load: bool = False) -> dict[str, Any]:
        """``SessionBase._get_session`` (loads once, marks the session accessed), typed."""
        return self._get_session(no_load=no_load)  # type: ignore[attr-defined]

    def encode(self, session_dict: dict[str, Any]) -> str:
        """Django's ``encode()``: the data as the session row stores it (``SESSION_SERIALIZER``;
        not signed, since the row is reached only through its token's hash)."""
        return self._serialise(session_dict)

    def decode(self, session_data: bytes | str) -> dict[str, Any]:
        """Django's ``decode()``, the inverse of ``encode()``."""
        return self._deserialize(session_data.decode("latin-1") if isinstance(session_data, bytes) else session_data)

    def _serialise(self, data: dict[str, Any]) -> str:
        return self.serializer().dumps(data).decode("latin-1") if data else ""

    def _deserialize(self, text: str) -> dict[str, Any]:
        if not text:
            return {}
        try:
            return self.serializer().loads(text.encode("latin-1"))
        except Exception as exc:  # noqa: BLE001 - as Django's decode(): corrupt data is an empty session
            security_logger.warning("Session data corrupted: %s", type(exc).__name__)
            return {}

    def _requested_expiry(self, data: dict[str, Any]) -> datetime | None:
        """``set_expiry(...)`` as an absolute moment (0 means "at browser close": no change)."""
        if not data.get("_session_expiry"):
            return None
        return self.get_expiry_date()


def _rules_of(view_func: Callable[..., Any]) -> ViewRules:
    """The device rules a view's markers (``decorators``) ask for."""
    return ViewRules(
        ignore_device=http.view_flag(view_func, "byo_ignore_device"),
        device_required=http.view_flag(view_func, "byo_device_required"),
    )
