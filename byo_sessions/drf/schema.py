"""How drf-spectacular describes our authentication (imported only when it is installed)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SessionTokenScheme(OpenApiAuthenticationExtension):
    """``SessionTokenAuthentication``: ``Authorization: Bearer byo_s_...`` or the session cookie."""

    target_class = "byo_sessions.drf.authentication.SessionTokenAuthentication"
    name = ["byoSessionBearer", "byoSessionCookie"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{name: []} for name in self.name]  # either one (a list: OR), not both

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {"type": "http", "scheme": "bearer", "description": "A byo session token (byo_s_...)."},
            {
                "type": "apiKey",
                "in": "cookie",
                "name": settings.SESSION_COOKIE_NAME,
                "description": "The session cookie; unsafe methods need Django's CSRF token.",
            },
        ]
