"""Signal receivers: tell the user by email when their account is used from a new device."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail


def email_new_device(*, user_ref: str, display_name: str = "", ip_address: str | None = None,
                     **kwargs: Any) -> None:
    """``new_device_detected`` receiver (runs after the login's transaction commits)."""
    User = get_user_model()
    try:
        user = User.objects.filter(pk=user_ref).first()
    except (TypeError, ValueError):  # an external (session server) id that is not a pk
        user = None
    if user is None or not user.email:
        return
    send_mail(
        subject="New device signed in to your account",
        message=(f"Hello {user.get_username()},\n\nyour account was just used from a new device: "
                 f"{display_name or 'an unknown browser'} (IP address {ip_address or 'unknown'}).\n"
                 "If this was not you, end that session on the \"Your sessions\" page and change your password.\n"),
        from_email=None,
        recipient_list=[user.email],
    )
