"""``include(account_urls())`` under a prefix such as ``account/sessions/``; names in the
``byo_account`` namespace: ``sessions``, ``end-session``, ``end-others``."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import views

app_name = "byo_account"


def account_urls(
    *, base_template: str = views.DEFAULT_BASE, reauth_to_end_others: bool = False
) -> tuple[list[Any], str]:
    """The pages, extending ``base_template`` (your site's layout; it must have a ``content`` block).
    ``reauth_to_end_others``: signing out the other sessions needs a recent sign-in
    (``reauth_required``, ``REAUTH_MAX_AGE_SECS``)."""
    kwargs = {"base_template": base_template}
    return [
        path("", views.sessions_page, kwargs, name="sessions"),
        path("end-others/", views.end_other_sessions, {**kwargs, "reauth": reauth_to_end_others}, name="end-others"),
        path("<str:session_id>/end/", views.end_session, kwargs, name="end-session"),
    ], app_name


urlpatterns = account_urls()[0]
