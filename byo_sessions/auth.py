"""``byo_sessions.login(request, user, tags=..., metadata=..., device_registration=...)``
and ``logout(request)``: Django's ``auth.login()`` / ``auth.logout()`` with byo's extras.

``login`` creates the session first (so a refusal by policy leaves the request, the user
and the cookie as they were and comes back as ``Err``) and then runs
``django.contrib.auth.login()`` on it, which keeps everything Django does at login
(``user_logged_in``, ``last_login``, a new CSRF token) and finds the session already made
for this user. The old session the request presented is ended (fixation defence); a
visitor's data (a cart) moves into the new session, as with Django's ``cycle_key()``.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import auth as django_auth
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from . import http
from .backends.db import SessionStore
from .values import CreatedSession, DeviceRegistration, Err, LoginOptions, Ok


def login(
    request: HttpRequest,
    user: Any,
    *,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    device_registration: DeviceRegistration | None = None,
    remember_device: bool = True,
    backend: str | None = None,
    authentication_factors: tuple[str, ...] | None = None,
) -> Ok[CreatedSession] | Err:
    """Start a session for ``user``; on ``Err`` nothing changes and no cookie is set.

    A device proof is taken from ``device_registration`` or, when absent, from the
    request's ``DPoP`` header or its ``device_proof`` form field (what ``device.js``'s
    ``getDeviceProof`` fills in), signed over this request's method and URL.
    ``authentication_factors`` names what the login checked (``("password", "totp")``);
    by default Django's ``ModelBackend`` means ``password`` (docs/reauthentication.md).
    """
    store = _store(request)
    if device_registration is None:
        device_registration = _registration_from_request(request, remember_device)
    backend = _backend_path(user, backend)
    result = store.start_user_session(
        user,
        backend=backend,
        actor=f"user:{user.pk}",
        options=LoginOptions(
            tags=tags,
            metadata=metadata,
            device_registration=device_registration,
            authentication_factors=authentication_factors,
        ),
    )
    if isinstance(result, Err):
        return result
    django_auth.login(request, user, backend)
    return result


def logout(request: HttpRequest) -> None:
    """``django.contrib.auth.logout``: the session ends (reason ``logout``), the cookie goes."""
    django_auth.logout(request)


def _store(request: HttpRequest) -> SessionStore:
    store = getattr(request, "session", None)
    if not isinstance(store, SessionStore):
        raise ImproperlyConfigured(
            "byo_sessions.login needs request.session from byo_sessions: set "
            "SESSION_ENGINE = 'byo_sessions.backends.db' and use byo_sessions.middleware.SessionMiddleware."
        )
    return store


def _backend_path(user: Any, backend: str | None) -> str:
    """The backend ``auth.login()`` would record, by the same rule."""
    backend = backend or getattr(user, "backend", None)
    if backend is not None:
        if not isinstance(backend, str):
            raise TypeError(f"backend must be a dotted import path string (got {backend!r}).")
        return backend
    backends = django_auth._get_backends(return_tuples=True)  # type: ignore[attr-defined]
    if len(backends) == 1:
        return str(backends[0][1])
    raise ValueError(
        "You have multiple authentication backends configured and therefore must provide the "
        "`backend` argument or set the `backend` attribute on the user."
    )


def _registration_from_request(request: HttpRequest, remember: bool) -> DeviceRegistration | None:
    proof = request.META.get("HTTP_DPOP") or (request.POST.get("device_proof") if request.method == "POST" else None)
    if not proof:
        return None
    return DeviceRegistration(
        signed_device_challenge=proof,
        remember_device=remember,
        request_url=http.request_url(request),
        request_method=request.method,
    )


alogin = sync_to_async(login)
alogout = sync_to_async(logout)
