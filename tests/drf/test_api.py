"""The self-service REST API (drf/api.py): my sessions, my devices, and the permissions."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from byo_sessions import sessions
from byo_sessions.core.dpop import access_token_hash
from byo_sessions.drf.api import SelfServiceView
from byo_sessions.drf.permissions import DeviceVerified, HasSessionTag
from byo_sessions.models import AuditEvent, Device, Session
from tests.constants import CHROME_MAC, FIREFOX_LINUX, IP, UA
from tests.dpop_signer import TestDevice
from tests.services.test_devices import login, proof

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def plain_settings(settings):
    settings.BYO_SESSIONS = {}


def bearer(token: str, **extra) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=IP, HTTP_USER_AGENT=UA, **extra)


def new_session(user, ua: str = UA, ip: str = IP) -> tuple[str, str]:
    created = sessions.create(user_id=user.pk, ip_address=ip, user_agent=ua).data
    return created.session_id, created.session_token


def test_list_puts_the_current_session_first_with_what_a_user_recognises(user, other_user, clock):
    first_id, _ = new_session(user, ua=CHROME_MAC)
    clock.advance(10)
    current_id, token = new_session(user, ua=FIREFOX_LINUX)
    clock.advance(10)
    newest_id, _ = new_session(user, ua=CHROME_MAC, ip="198.51.100.9")
    new_session(other_user)
    sessions.invalidate_by_id(session_id=first_id)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=IP, HTTP_USER_AGENT=FIREFOX_LINUX)
    response = client.get("/api/byo/sessions/")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    listed = response.json()
    assert [row["id"] for row in listed] == [current_id, newest_id]  # mine, live, current first
    current, newest = listed
    assert current["current"] is True and newest["current"] is False
    assert (current["browser"], current["os"]) == ("Firefox", "Linux")
    assert (newest["browser"], newest["os"], newest["ip_address"]) == ("Chrome", "macOS", "198.51.100.9")
    assert newest["location"] is None and newest["device_bound"] is False
    assert newest["created_at"] and newest["last_activity_at"]


def test_end_one_of_mine_and_not_another_users(user, other_user):
    mine, token = new_session(user)
    other, _ = new_session(user)
    theirs, _ = new_session(other_user)
    client = bearer(token)
    refused = client.delete(f"/api/byo/sessions/{theirs}/")
    assert refused.status_code == 404 and refused.json()["type"] == "SessionNotFound"
    assert Session.objects.get(pk=theirs).ended_at is None
    assert client.delete("/api/byo/sessions/no-such-id/").status_code == 404
    assert client.delete(f"/api/byo/sessions/{other}/").status_code == 204
    ended = Session.objects.get(pk=other)
    assert ended.ended_at is not None and ended.end_reason == "user" and ended.ended_by == f"user:{user.pk}"
    assert client.get("/api/byo/sessions/").json()[0]["id"] == mine
    assert client.delete(f"/api/byo/sessions/{mine}/").status_code == 204  # my current one: logged out
    assert client.get("/api/byo/sessions/").status_code == 401


def test_end_all_my_others(user, other_user):
    mine, token = new_session(user)
    new_session(user)
    new_session(user)
    theirs, _ = new_session(other_user)
    response = bearer(token).post("/api/byo/sessions/end-others/")
    assert response.status_code == 200 and response.json() == {"ended": 2}
    assert list(Session.objects.filter(ended_at__isnull=True).values_list("pk", flat=True).order_by("pk")) == sorted(
        [mine, theirs]
    )


def test_cookie_clients_need_csrf_to_end_sessions(user):
    _mine, token = new_session(user)
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    browser.cookies["session_token"] = token
    assert browser.get("/api/byo/sessions/").status_code == 200
    assert browser.post("/api/byo/sessions/end-others/").status_code == 403


def test_anonymous_is_refused_everywhere(db):
    for method, url in [
        ("get", "/api/byo/sessions/"),
        ("post", "/api/byo/sessions/end-others/"),
        ("delete", "/api/byo/sessions/x/"),
        ("get", "/api/byo/devices/"),
        ("delete", "/api/byo/devices/x/"),
    ]:
        assert getattr(Client(), method)(url).status_code in (401, 403)


def test_my_devices_and_revoking_one(user, other_user, clock):
    laptop, phone = TestDevice(), TestDevice()
    current = login(user, laptop, clock).data
    clock.advance(5)
    on_phone = [login(user, phone, clock).data.session_id for _ in range(2)]
    theirs = login(other_user, TestDevice(), clock).data
    client = bearer(current.session_token)
    listed = client.get("/api/byo/devices/").json()
    assert len(listed) == 2 and [row["current"] for row in listed] == [False, True]  # last seen first
    phone_id, laptop_id = listed[0]["id"], listed[1]["id"]
    assert laptop_id == current.device_id
    their_device = Device.objects.get(user=other_user).pk
    refused = client.delete(f"/api/byo/devices/{their_device}/")
    assert refused.status_code == 404 and refused.json()["type"] == "DeviceNotFound"
    assert (
        Device.objects.filter(pk=their_device).exists() and Session.objects.get(pk=theirs.session_id).ended_at is None
    )
    response = client.delete(f"/api/byo/devices/{phone_id}/")
    assert response.status_code == 200 and response.json() == {"ended": 2}
    assert not Device.objects.filter(pk=phone_id).exists()
    assert all(Session.objects.get(pk=sid).ended_at is not None for sid in on_phone)
    assert AuditEvent.objects.filter(
        session_id=on_phone[0], event_type="session_invalidated", details__device_revoked=True
    ).exists()
    assert [row["id"] for row in client.get("/api/byo/devices/").json()] == [laptop_id]
    # Forgotten: the phone's key is a new device at its next login.
    assert login(user, phone, clock).data.new_device_detected is True


# --- permissions ---------------------------------------------------------------------------


class AdminOnly(SelfServiceView):
    permission_classes = [IsAuthenticated, HasSessionTag("role:admin")]

    def get(self, request):
        return Response({"ok": True})


class SignedOnly(SelfServiceView):
    permission_classes = [IsAuthenticated, DeviceVerified]

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("admin-only/", AdminOnly.as_view()), path("signed-only/", SignedOnly.as_view())]


@pytest.mark.urls(__name__)
def test_has_session_tag(user):
    admin_token = sessions.create(user_id=user.pk, tags=["role:admin"]).data.session_token
    plain_token = sessions.create(user_id=user.pk, tags=["role:viewer"]).data.session_token
    assert Client(HTTP_AUTHORIZATION=f"Bearer {admin_token}").get("/admin-only/").json() == {"ok": True}
    refused = Client(HTTP_AUTHORIZATION=f"Bearer {plain_token}").get("/admin-only/")
    assert refused.status_code == 403 and refused.json()["type"] == "MissingRequiredTags"
    assert refused.json()["details"]["missing"] == ["role:admin"]
    assert Client().get("/admin-only/").status_code in (401, 403)


def test_has_session_tag_needs_a_tag():
    with pytest.raises(TypeError):
        HasSessionTag()


@pytest.mark.urls(__name__)
def test_device_verified(user, clock):
    device = TestDevice()
    token = login(user, device, clock).data.session_token
    client = bearer(token)
    url = "http://testserver/signed-only/"
    unsigned = client.get("/signed-only/")
    assert unsigned.status_code == 401 and unsigned.json()["type"] == "DeviceVerificationRequired"
    assert unsigned.json()["details"]["reason"] == "missing_proof"
    signed = client.get(
        "/signed-only/", HTTP_DPOP=proof(device, clock, url=url, claim_overrides={"ath": access_token_hash(token)})
    )
    assert signed.status_code == 200
    stranger = client.get(
        "/signed-only/",
        HTTP_DPOP=proof(TestDevice(), clock, url=url, claim_overrides={"ath": access_token_hash(token)}),
    )
    assert stranger.status_code == 401 and stranger.json()["type"] == "DeviceVerificationFailed"
    unbound_token = sessions.create(user_id=user.pk, ip_address=IP, user_agent=UA).data.session_token
    no_device = bearer(unbound_token).get("/signed-only/", HTTP_DPOP=proof(device, clock, url=url))
    assert no_device.status_code == 401 and no_device.json()["details"]["reason"] == "no_device_registered"


def test_queries_per_request(user, clock, django_assert_num_queries):
    """Validation is the middleware's one query; each list is one more, whatever its length."""
    laptop = TestDevice()
    token = login(user, laptop, clock).data.session_token
    for _ in range(3):
        login(user, TestDevice(), clock)
    client = bearer(token)
    client.get("/api/byo/sessions/")  # warm: the policy set is cached per process
    with django_assert_num_queries(2):
        assert len(client.get("/api/byo/sessions/").json()) == 4
    with django_assert_num_queries(2):
        assert len(client.get("/api/byo/devices/").json()) == 4


def test_ending_others_and_revoking_a_device_need_a_recent_authentication(user, clock):
    """Sensitive actions (ASVS 3.7.1): past REAUTH_MAX_AGE_SECS (300 s) they answer 401
    ReauthenticationRequired; listing and ending one session do not ask."""
    _mine, token = new_session(user)
    other, _ = new_session(user)
    clock.advance(301)
    client = bearer(token)
    for response in (client.post("/api/byo/sessions/end-others/"), client.delete("/api/byo/devices/dev_x/")):
        assert response.status_code == 401 and response.json()["type"] == "ReauthenticationRequired"
        assert 'error="insufficient_user_authentication"' in response["WWW-Authenticate"]
    assert Session.objects.get(pk=other).ended_at is None
    assert client.get("/api/byo/sessions/").status_code == 200
    assert client.delete(f"/api/byo/sessions/{other}/").status_code == 204


def test_location_is_an_object_when_the_session_info_knows_one():
    """What the geo lookup fills in (a ``location`` on SessionInfo, falsy when unknown)."""
    from types import SimpleNamespace

    from byo_sessions.drf.serializers import LocationSerializer

    class Known(SimpleNamespace):
        def __bool__(self):
            return bool(self.country or self.city or self.network)

    field = LocationSerializer(allow_null=True, read_only=True)
    known = Known(country="DE", city="Berlin", network="Example AS")
    assert field.get_attribute(SimpleNamespace(location=known)) is known
    assert dict(field.to_representation(known)) == {"country": "DE", "city": "Berlin", "network": "Example AS"}
    assert field.get_attribute(SimpleNamespace(location=Known(country="", city="", network=""))) is None
    assert field.get_attribute(SimpleNamespace()) is None
