"""The devices admin (admin/__init__.py): Django's permissions decide every change;
staff who may only view devices see them and change nothing."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote

from byo_sessions.core import clock
from byo_sessions.models import Device

pytestmark = pytest.mark.django_db

DEVICES = "/admin/byo_sessions/device/"


def make_device(user, **fields):
    """A remembered device of ``user`` seen now (``fields`` override the defaults)."""
    now = clock.now()
    defaults = {"thumbprint": "t" * 43, "public_jwk": {"kty": "EC"}, "display_name": "Laptop"}
    return Device.objects.create(user=user, first_seen_at=now, last_seen_at=now, **{**defaults, **fields})


@pytest.fixture
def device(user):
    return make_device(user)


def test_view_only_staff_see_devices_and_change_or_delete_none(staff_client, device):
    client = staff_client("view_device")
    listing = client.get(DEVICES)
    assert listing.status_code == 200 and "Laptop" in listing.content.decode()
    assert "delete_selected" not in listing.content.decode()
    assert client.get(f"{DEVICES}{quote(device.pk)}/change/").status_code == 200
    assert client.post(f"{DEVICES}{quote(device.pk)}/change/", {"display_name": "Renamed"}).status_code == 403
    assert client.post(f"{DEVICES}{quote(device.pk)}/delete/", {"post": "yes"}).status_code == 403
    client.post(DEVICES, {"action": "delete_selected", "_selected_action": [device.pk], "post": "yes"})
    device.refresh_from_db()
    assert device.display_name == "Laptop"


def test_devices_are_revoked_never_deleted_bare(staff_client, device, user):
    """Deleting a device would leave its sessions bound and alive; Revoke ends them too."""
    client = staff_client("view_device", "delete_device")
    page = client.get(DEVICES).content.decode()
    assert "delete_selected" not in page and "revoke_selected" not in page  # revoking needs end_session
    assert client.post(f"{DEVICES}{quote(device.pk)}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{DEVICES}{quote(device.pk)}/revoke/").status_code == 403
    assert Device.objects.exists()
