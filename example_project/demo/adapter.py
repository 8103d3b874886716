"""The demo's ``SessionAdapter`` (``BYO_SESSIONS["ADAPTER"]``): role tags at every login,
and an email when an account is used from a new device."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.http import HttpRequest

from byo_sessions.adapter import SessionAdapter
from byo_sessions.values import LoginOptions


class DemoAdapter(SessionAdapter):
    def login_options(self, request: HttpRequest | None, user: Any) -> LoginOptions:
        """The demo's login form asks for these too, so the admin's login form and any other
        ``auth.login()`` call tag their sessions alike."""
        return LoginOptions(tags=["role:staff"] if user.is_staff else ["role:member"])

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
        User = get_user_model()
        try:
            user = User.objects.filter(pk=user_ref).first()
        except (TypeError, ValueError):  # an external (session server) id that is not a pk
            user = None
        if user is None or not user.email:
            return
        send_mail(
            subject="New device signed in to your account",
            message=(
                f"Hello {user.get_username()},\n\nyour account was just used from a new device: "
                f"{display_name or 'an unknown browser'} (IP address {ip_address or 'unknown'}).\n"
                'If this was not you, end that session on the "Your sessions" page and change your '
                "password.\n"
            ),
            from_email=None,
            recipient_list=[user.email],
        )
