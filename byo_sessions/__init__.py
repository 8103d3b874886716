"""byo-sessions: server-side sessions for Django.

``from byo_sessions import sessions, login, logout, is_ok, is_err``. Names that need
the app registry (everything touching models) are imported lazily, so this package can
sit in INSTALLED_APPS.
"""

from __future__ import annotations

from typing import Any

from .values import Err, ErrorType, Ok, SessionError, is_err, is_ok

__version__ = "0.1.0"

_LAZY = {
    "login": ("byo_sessions.auth", "login"),
    "logout": ("byo_sessions.auth", "logout"),
    "alogin": ("byo_sessions.auth", "alogin"),
    "alogout": ("byo_sessions.auth", "alogout"),
    "DeviceRegistration": ("byo_sessions.values", "DeviceRegistration"),
    "DeviceVerification": ("byo_sessions.values", "DeviceVerification"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'byo_sessions' has no attribute {name!r}")


__all__ = [
    "Ok",
    "Err",
    "ErrorType",
    "SessionError",
    "is_ok",
    "is_err",
    "login",
    "logout",
    "alogin",
    "alogout",
    "sessions",
    "DeviceRegistration",
    "DeviceVerification",
]
