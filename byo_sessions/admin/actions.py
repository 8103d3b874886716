"""Actions on the page where the eye is: end this session, end all of its owner's sessions,
revoke a device. Each is a GET that shows what would happen and a POST that does it, needs
``byo_sessions.end_session`` (viewing is not enough), goes through the services (so the
audit trail names the acting admin) and returns to the page it came from.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from ..core import clock
from ..core.user_agent import UserAgentSummary
from ..models import Device, EndReason, Session
from ..services import devices as device_service
from ..services import sessions as session_service
from ..values import Err

SHOWN = 20  # sessions listed on a confirmation page


def actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


def may_end(request: HttpRequest) -> bool:
    user: Any = request.user
    return bool(user.has_perm("byo_sessions.end_session"))


def owner_label(session: Session | Device) -> str:
    if session.user_id is not None:
        return str(session.user)
    if session.external_user_id is not None:
        return f"{session.external_user_id} (external)"
    return "an anonymous visitor"


def _confirm(
    request: HttpRequest, admin: Any, *, title: str, question: str, button: str, doomed: Any, back: str
) -> HttpResponse:
    live = doomed.live(clock.now()).select_related("user")
    context = {
        **admin.admin_site.each_context(request),
        "opts": admin.model._meta,
        "title": title,
        "question": question,
        "button": button,
        "back": back,
        "doomed": [(s, UserAgentSummary.from_dict(s.client).display_name) for s in live[:SHOWN]],
        "doomed_count": live.count(),
        "shown": SHOWN,
    }
    return TemplateResponse(request, "admin/byo_sessions/confirm_end.html", context)


class SessionActionsMixin:
    """``<id>/end/`` and ``<id>/end-all/`` on the session admin."""

    def get_urls(self) -> list[URLPattern]:
        site = self.admin_site  # type: ignore[attr-defined]
        own = [
            path("<path:object_id>/end/", site.admin_view(self.end_view), name="byo_sessions_session_end"),
            path("<path:object_id>/end-all/", site.admin_view(self.end_all_view), name="byo_sessions_session_end_all"),
        ]
        return own + super().get_urls()  # type: ignore[misc]

    def _session(self, request: HttpRequest, object_id: str) -> Session:
        if not may_end(request):
            raise PermissionDenied
        session = Session.objects.select_related("user").filter(pk=unquote(object_id)).first()
        if session is None:
            raise Http404("No such session.")
        return session

    def end_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)
        back = reverse("admin:byo_sessions_session_change", args=[quote(session.pk)])
        if request.method != "POST":
            return _confirm(
                request,
                self,
                title="End this session",
                button="End this session",
                back=back,
                question=f"End this session of {owner_label(session)}? Its browser is logged out on its next request.",
                doomed=Session.objects.filter(pk=session.pk),
            )
        result = session_service.invalidate_by_id(session_id=session.pk, reason=EndReason.ADMIN, actor=actor(request))
        ended = 0 if isinstance(result, Err) else result.data
        self.message_user(  # type: ignore[attr-defined]
            request,
            "Session ended." if ended else "This session had already ended.",  # type: ignore[attr-defined]
            messages.SUCCESS if ended else messages.WARNING,
        )
        return HttpResponseRedirect(back)

    def end_all_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)
        back = reverse("admin:byo_sessions_session_change", args=[quote(session.pk)])
        if session.is_anonymous:
            raise Http404("An anonymous session has no user.")
        owner = (
            {"user_id": session.user_id}
            if session.user_id is not None
            else {"external_user_id": session.external_user_id}
        )
        if request.method != "POST":
            return _confirm(
                request,
                self,
                title="End all of this user's sessions",
                back=back,
                button=f"End all sessions of {owner_label(session)}",
                question=f"End every session of {owner_label(session)}? Each of their browsers "
                f"is logged out on its next request.",
                doomed=Session.objects.filter(**owner),
            )
        result = session_service.invalidate_all_for_user(**owner, reason=EndReason.ADMIN, actor=actor(request))
        ended = 0 if isinstance(result, Err) else result.data
        self.message_user(  # type: ignore[attr-defined]
            request,
            f"Ended {ended} session(s) of {owner_label(session)}.",  # type: ignore[attr-defined]
            messages.SUCCESS,
        )
        return HttpResponseRedirect(back)


class DeviceActionsMixin:
    """``<id>/revoke/`` on the device admin: end its sessions and forget it."""

    def get_urls(self) -> list[URLPattern]:
        site = self.admin_site  # type: ignore[attr-defined]
        own = [path("<path:object_id>/revoke/", site.admin_view(self.revoke_view), name="byo_sessions_device_revoke")]
        return own + super().get_urls()  # type: ignore[misc]

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not may_end(request):
            raise PermissionDenied
        device = Device.objects.select_related("user").filter(pk=unquote(object_id)).first()
        if device is None:
            raise Http404("No such device.")
        if request.method != "POST":
            return _confirm(
                request,
                self,
                title="Revoke this device",
                button="Revoke the device and end its sessions",
                back=reverse("admin:byo_sessions_device_change", args=[quote(device.pk)]),
                question=f"Revoke {device} of {owner_label(device)}? Its sessions end and the "
                f"device is forgotten: its next login counts as a new device.",
                doomed=Session.objects.filter(device_id=device.pk),
            )
        result = device_service.revoke(
            device_id=device.pk,
            user_id=device.user_id,
            external_user_id=device.external_user_id,
            reason=EndReason.ADMIN,
            actor=actor(request),
        )
        if isinstance(result, Err):
            self.message_user(request, result.error.message, messages.WARNING)  # type: ignore[attr-defined]
        else:
            self.message_user(  # type: ignore[attr-defined]
                request,
                f"Revoked {device}; ended {result.data} session(s).",  # type: ignore[attr-defined]
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:byo_sessions_device_changelist"))
