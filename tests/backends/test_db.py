"""The session store (backends/db.py): a view's markers hold whatever reads the session
first (issue 11, item 7). Each marker (``device_verification_required``,
``ignore_device_for_verification``, ``session_exempt``) is served in each order: nothing
reads the session before the view; a middleware after ours reads ``request.user`` in its
``__call__``; an async one awaits ``request.auser()``; and one reads it while the URL
resolves elsewhere (``request.urlconf`` switched, as per-host routing does), so only the
view passed to ``process_view`` tells the markers."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, markcoroutinefunction
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, Client
from django.urls import path

from byo_sessions import sessions
from byo_sessions.decorators import (
    device_verification_required,
    ignore_device_for_verification,
    login_required,
    session_exempt,
)
from byo_sessions.models import AuditEvent, Session, TagPolicy
from tests.constants import COOKIE, IP, UA
from tests.dpop_signer import TestDevice
from tests.services.test_devices import login as device_login

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.backends.test_db")]


def _whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "user": request.user.get_username() if request.user.is_authenticated else None,
            "session": request.byo_session is not None,
        }
    )


def _view():  # a function of its own per view: the markers are attributes of the function
    return lambda request: _whoami(request)


device_only = login_required(device_verification_required(_view()))
ignores_device = ignore_device_for_verification(login_required(_view()))
plain = login_required(_view())
exempt = session_exempt(_view())

urlpatterns = [
    path("device-only/", device_only),
    path("ignores-device/", ignores_device),
    path("plain/", plain),
    path("exempt/", exempt),
]
# What the URLs resolve to while ReadsUserUnderAnotherUrlconf reads: views without markers.
unmarked_urlpatterns = [path(route.pattern._route, plain) for route in urlpatterns]


class ReadsUserEarly:
    """A middleware after ours that reads ``request.user`` before any view is known."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.user.is_authenticated  # noqa: B018 - the read is the point
        return self.get_response(request)


class AwaitsUserEarly:
    async_capable, sync_capable = True, False

    def __init__(self, get_response):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request):
        await request.auser()
        return await self.get_response(request)


class ReadsUserUnderAnotherUrlconf(ReadsUserEarly):
    def __call__(self, request):
        request.urlconf = "tests.backends.test_db_unmarked"
        try:
            request.user.is_authenticated  # noqa: B018
        finally:
            del request.urlconf
        return self.get_response(request)


ORDERS = {
    "no_early_read": None,
    "early_user": f"{__name__}.ReadsUserEarly",
    "early_auser": f"{__name__}.AwaitsUserEarly",
    "early_user_elsewhere": f"{__name__}.ReadsUserUnderAnotherUrlconf",
}


@pytest.fixture(params=list(ORDERS))
def order(request, settings):
    reader = ORDERS[request.param]
    if reader is not None:
        middleware = list(settings.MIDDLEWARE)
        middleware.insert(middleware.index("byo_sessions.middleware.AuthenticationMiddleware") + 1, reader)
        settings.MIDDLEWARE = middleware
    settings.BYO_SESSIONS = {}
    return request.param


ASGI_IP = "127.0.0.1"  # where AsyncClient's requests come from


def ip_of(order: str) -> str:
    return ASGI_IP if order == "early_auser" else IP


def get(order: str, url: str, *, cookie: str | None = None, **headers: str):
    """A GET through the whole stack: the ASGI handler when the reader is async."""
    headers = {"user-agent": UA, "accept": "application/json", **headers}
    if order == "early_auser":
        async_client = AsyncClient()  # from ASGI_IP
        if cookie:
            async_client.cookies[COOKIE] = cookie
        return async_to_sync(async_client.get)(url, headers=headers)
    client = Client(REMOTE_ADDR=ip_of(order), headers=headers)
    if cookie:
        client.cookies[COOKIE] = cookie
    return client.get(url)


def test_device_required_holds_whoever_reads_first(order, user):
    token = sessions.create(user_id=user.pk, ip_address=ip_of(order), user_agent=UA).data.session_token
    assert get(order, "/plain/", cookie=token).json() == {"user": "alice", "session": True}
    refused = get(order, "/device-only/", cookie=token)
    assert refused.status_code == 401, refused.content
    assert refused.json()["type"] == "DeviceVerificationRequired"


def test_ignore_device_holds_whoever_reads_first(order, user, clock):
    """A session whose policy demands a device proof reaches a view that ignores devices;
    an early load refused for want of a proof is validated again under the view's rule."""
    TagPolicy.objects.create(selector="role:root", device_verification_required=True)
    token = device_login(user, TestDevice(), clock, ip=ip_of(order), tags=["role:root"]).data.session_token
    refused = get(order, "/plain/", cookie=token)
    assert refused.status_code == 401 and refused.json()["type"] == "DeviceVerificationRequired"
    response = get(order, "/ignores-device/", cookie=token)
    assert response.status_code == 200, response.content
    assert response.json() == {"user": "alice", "session": True}


def test_session_exempt_sees_no_session_whoever_reads_first(order, user, django_assert_max_num_queries):
    """The exempt view's Bearer value (here even a live session token) is never used as a
    session: the view sees none. Only when the URL led elsewhere while something read the
    session was it validated (one query); the exempt view still sees no session."""
    created = sessions.create(user_id=user.pk, ip_address=ip_of(order), user_agent=UA).data
    audit_rows = AuditEvent.objects.count()
    with django_assert_max_num_queries(1 if order == "early_user_elsewhere" else 0):
        response = get(order, "/exempt/", authorization=f"Bearer {created.session_token}")
    assert response.json() == {"user": None, "session": False}
    assert AuditEvent.objects.count() == audit_rows
    assert Session.objects.get(pk=created.session_id).ended_at is None
