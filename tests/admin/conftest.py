"""Admin fixtures: a logged-in staff member holding only the permissions a test names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client


@pytest.fixture
def staff_client(client: Client, django_user_model: Any) -> Callable[..., Client]:
    """``staff_client("view_session", ...)``: the test client, logged in as staff with
    exactly those ``byo_sessions`` permissions (no superuser shortcut)."""

    def log_in(*codenames: str) -> Client:
        staff = django_user_model.objects.create_user(username="staff", password="pw-staff-123", is_staff=True)
        found = Permission.objects.filter(content_type__app_label="byo_sessions", codename__in=codenames)
        assert found.count() == len(codenames), "a permission named here does not exist"
        staff.user_permissions.add(*found)
        client.force_login(staff)
        return client

    return log_in
