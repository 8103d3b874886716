"""``login(request, user, ...)`` and ``logout(request)`` for Django views.

``login`` always issues a fresh token and ends any token the request presented (no
session fixation), rotates the CSRF token and sends Django's ``user_logged_in`` signal
(so ``last_login`` is updated as usual). The middleware writes the cookie.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.http import HttpRequest
from django.middleware.csrf import rotate_token

from . import http, policy_store
from .models import EndReason
from .request_state import state_for
from .results import Err, Ok
from .services import sessions
from .values import CreatedSession, DeviceRegistration, ValidatedSession


def login(request: HttpRequest, user: Any, *, tags: list[str] | None = None,
          metadata: dict[str, Any] | None = None, device_registration: DeviceRegistration | None = None,
          remember_device: bool = True) -> Ok[CreatedSession] | Err:
    """Start a session for ``user``; on ``Err`` nothing changes and no cookie is set.

    A device proof is taken from ``device_registration`` or, when absent, from the
    request's ``DPoP`` header or its ``device_proof`` form field (what ``device.js``'s
    ``getDeviceProof`` fills in), signed over this request's method and URL.
    """
    state = state_for(request)
    if device_registration is None:
        device_registration = _registration_from_request(request, remember_device)
    result = sessions.create(
        user_id=user.pk, ip_address=http.request_ip(request), user_agent=http.request_user_agent(request),
        tags=tags, metadata=metadata, device_registration=device_registration,
        replaces_session_token=state.token.value if state.token is not None else None, actor=f"user:{user.pk}",
    )
    if isinstance(result, Err):
        return result
    created = result.data
    idle = policy_store.resolve(tuple(tags or ())).inactivity_timeout_secs
    expires_at = min(created.expires_at, created.created_at + timedelta(seconds=idle)) if idle else created.expires_at
    state.logged_in(
        ValidatedSession(session_id=created.session_id, user_id=user.pk, created_at=created.created_at,
                         expires_at=expires_at, last_activity_at=created.created_at,
                         tags=tuple(tags or ()), metadata=dict(metadata or {}),
                         has_device_registered=created.device_id is not None, device_id=created.device_id,
                         user=user, absolute_expires_at=created.expires_at),
        created.session_token,
    )
    request.user = user
    rotate_token(request)
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    return result


def _registration_from_request(request: HttpRequest, remember: bool) -> DeviceRegistration | None:
    proof = request.META.get("HTTP_DPOP") or (request.POST.get("device_proof") if request.method == "POST" else None)
    if not proof:
        return None
    return DeviceRegistration(signed_device_challenge=proof, remember_device=remember,
                              request_url=http.request_url(request), request_method=request.method)


def logout(request: HttpRequest) -> None:
    """End the request's session (if any) and clear the cookie."""
    state = state_for(request)
    user = getattr(request, "user", None)
    if state.token is not None:
        sessions.invalidate_by_token(session_token=state.token.value, reason=EndReason.LOGOUT,
                                     actor=f"user:{getattr(user, 'pk', '')}")
    if user is not None and getattr(user, "is_authenticated", False):
        user_logged_out.send(sender=user.__class__, request=request, user=user)
    state.logged_out()
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()


alogin = sync_to_async(login)
alogout = sync_to_async(logout)
