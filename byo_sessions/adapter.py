"""The one extension point a project overrides: ``SessionAdapter`` (as allauth's adapters).

Subclass it, override the methods you need and name the class in settings::

    # myproject/sessions.py
    from byo_sessions.adapter import SessionAdapter
    from byo_sessions.values import LoginOptions

    class ProjectAdapter(SessionAdapter):
        def login_options(self, request, user):
            return LoginOptions(tags=[f"org:{user.profile.org_id}"])

    # settings.py
    BYO_SESSIONS = {"ADAPTER": "myproject.sessions.ProjectAdapter"}

``get_adapter()`` builds the instance once per settings (dropped on ``setting_changed``
of ``BYO_SESSIONS``), so an adapter holds no per-request state. System check
``byo_sessions.E025`` names a path that is not importable or not a subclass.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest
from django.utils.module_loading import import_string

from .conf import byo_settings
from .values import LoginOptions


class SessionAdapter:
    """What a project customises; the defaults add nothing and do nothing."""

    def login_options(self, request: HttpRequest | None, user: Any) -> LoginOptions:
        """Tags and metadata of a session started through ``django.contrib.auth.login()``:
        Django's and allauth's login views, dj-rest-auth, the test client (``request`` is
        ``None`` there), and a session migrated from ``django.contrib.sessions``.

        ``tags``, ``metadata`` and ``authentication_factors`` are used (a device proof comes
        through ``byo_sessions.login``, which takes its own values and does not ask).
        ``authentication_factors`` says what the login checked (``("password", "totp")``);
        left ``None``, Django's ``ModelBackend`` counts as ``password`` and other backends
        name no factor (``reauth_required`` reads them; docs/reauthentication.md)."""
        return LoginOptions()

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
        """A session was bound to a device key this user had not used (or not remembered).

        Called once the binding's transaction has committed, as the ``new_device_detected``
        signal is: the place for a "new sign-in" email. ``user_ref`` is ``str(user.pk)``
        for a Django user, the caller's own id for a session-server user. An exception
        raised here reaches the code that created the session (as a receiver's would)."""


_adapter: SessionAdapter | None = None


def get_adapter() -> SessionAdapter:
    """The instance of ``BYO_SESSIONS["ADAPTER"]``."""
    global _adapter
    if _adapter is None:
        adapter_class = import_string(byo_settings.ADAPTER)
        if not (isinstance(adapter_class, type) and issubclass(adapter_class, SessionAdapter)):
            raise ImproperlyConfigured(
                f"BYO_SESSIONS['ADAPTER'] must name a subclass of "
                f"byo_sessions.adapter.SessionAdapter, not {adapter_class!r}."
            )
        _adapter = adapter_class()
    return _adapter


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    global _adapter
    if setting == "BYO_SESSIONS":
        _adapter = None


setting_changed.connect(_on_setting_changed, dispatch_uid="byo_sessions_adapter")
