"""``byo_sessions.adapter``: the extension point. The adapter's ``login_options`` with
Django's and allauth's views is in tests/compat, with a migrated Django session in
tests/test_django_sessions.py, and the demo's adapter in tests/test_demo_site.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import HttpRequest

import byo_sessions
from byo_sessions import ErrorType, is_ok, signals
from byo_sessions.adapter import SessionAdapter, get_adapter
from byo_sessions.backends.db import LoginRefused, SessionStore
from byo_sessions.models import Device, Session
from byo_sessions.values import LoginOptions
from tests.constants import IP, UA
from tests.dpop_signer import TestDevice
from tests.services.test_devices import login

pytestmark = pytest.mark.django_db


class ProjectAdapter(SessionAdapter):
    """Records what it is asked, so the tests can see when and with what."""

    requests: list[HttpRequest | None] = []
    notices: list[dict[str, Any]] = []

    def login_options(self, request: HttpRequest | None, user: Any) -> LoginOptions:
        self.requests.append(request)
        return LoginOptions(tags=[f"role:{'staff' if user.is_staff else 'member'}"], metadata={"via": "adapter"})

    def new_device_detected(
        self,
        *,
        user_ref: str,
        device_id: str,
        session_id: str,
        ip_address: str | None,
        user_agent: str,
        display_name: str,
    ) -> None:
        self.notices.append(
            {
                "user_ref": user_ref,
                "device_id": device_id,
                "session_id": session_id,
                "ip_address": ip_address,
                "user_agent": user_agent,
                "display_name": display_name,
            }
        )


@pytest.fixture
def project_adapter(settings: Any) -> type[ProjectAdapter]:
    ProjectAdapter.requests, ProjectAdapter.notices = [], []
    settings.BYO_SESSIONS = {"ADAPTER": f"{__name__}.ProjectAdapter"}
    return ProjectAdapter


def test_the_default_adapter_adds_nothing(client, user, clock, django_capture_on_commit_callbacks):
    adapter = get_adapter()
    assert type(adapter) is SessionAdapter
    assert adapter.login_options(None, user) == LoginOptions()
    client.force_login(user)
    session = Session.objects.get(user=user)
    assert session.tags == [] and session.metadata == {}
    with django_capture_on_commit_callbacks(execute=True):
        assert login(user, TestDevice(), clock).data.new_device_detected is True  # and nothing is called


def test_one_instance_per_settings(settings):
    assert get_adapter() is get_adapter()
    settings.BYO_SESSIONS = {"ADAPTER": f"{__name__}.ProjectAdapter"}
    assert type(get_adapter()) is ProjectAdapter and get_adapter() is get_adapter()
    settings.BYO_SESSIONS = {}
    assert type(get_adapter()) is SessionAdapter


def test_a_path_to_something_else_is_refused(settings):
    settings.BYO_SESSIONS = {"ADAPTER": "byo_sessions.adapter.get_adapter"}
    with pytest.raises(ImproperlyConfigured, match="subclass of byo_sessions.adapter.SessionAdapter"):
        get_adapter()


def test_login_options_reach_a_session_made_by_auth_login(client, user, project_adapter):
    client.force_login(user)  # auth.login() outside a request
    session = Session.objects.get(user=user)
    assert session.tags == ["role:member"] and session.metadata == {"via": "adapter"}
    assert project_adapter.requests == [None]


class BadTagAdapter(SessionAdapter):
    def login_options(self, request: HttpRequest | None, user: Any) -> LoginOptions:
        return LoginOptions(tags=["no colon"])


def test_a_bad_tag_from_the_adapter_refuses_the_login(client, user, settings):
    settings.BYO_SESSIONS = {"ADAPTER": f"{__name__}.BadTagAdapter"}
    with pytest.raises(LoginRefused) as refused:
        client.force_login(user)
    assert refused.value.error.type == ErrorType.INVALID_TAG_FORMAT
    assert not Session.objects.filter(user=user).exists()


def test_byo_sessions_login_keeps_its_own_options(rf, user, project_adapter):
    """``byo_sessions.login(..., tags=...)`` does not ask the adapter."""
    request = rf.post("/login/", REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    request.session = SessionStore(request=request)
    assert is_ok(byo_sessions.login(request, user, tags=["org:acme"]))
    assert Session.objects.get(user=user).tags == ["org:acme"]
    assert project_adapter.requests == []


def test_new_device_detected_is_called_once_after_commit(
    user, clock, project_adapter, django_capture_on_commit_callbacks
):
    device = TestDevice()
    with django_capture_on_commit_callbacks() as callbacks:
        first = login(user, device, clock)
    assert is_ok(first) and first.data.new_device_detected is True
    assert project_adapter.notices == []  # not before the transaction commits
    for callback in callbacks:
        callback()
    bound = Device.objects.get(user=user)
    assert project_adapter.notices == [
        {
            "user_ref": str(user.pk),
            "device_id": bound.pk,
            "session_id": first.data.session_id,
            "ip_address": IP,
            "user_agent": UA,
            "display_name": "Chrome 131 on Linux",
        }
    ]

    with django_capture_on_commit_callbacks(execute=True):
        again = login(user, device, clock)  # a key this user has used and remembered
    assert is_ok(again) and again.data.new_device_detected is False
    assert len(project_adapter.notices) == 1


def test_a_rolled_back_binding_calls_nothing(user, clock, project_adapter, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            assert login(user, TestDevice(), clock).data.new_device_detected is True
            raise RuntimeError("the caller's transaction fails after the login")
    assert project_adapter.notices == [] and not Device.objects.exists()


def test_the_signal_is_still_sent_beside_the_adapter(user, clock, project_adapter, django_capture_on_commit_callbacks):
    seen: list[dict[str, Any]] = []
    signals.new_device_detected.connect(lambda **kw: seen.append(kw), weak=False, dispatch_uid="adapter-test")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            login(user, TestDevice(), clock)
    finally:
        signals.new_device_detected.disconnect(dispatch_uid="adapter-test")
    (sent,) = seen
    assert {key: sent[key] for key in project_adapter.notices[0]} == project_adapter.notices[0]
