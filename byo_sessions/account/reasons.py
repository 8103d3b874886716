"""End reasons in words an end user understands (the admin keeps ``EndReason``'s labels)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from ..models import EndReason

StrOrPromise = str | Promise

# How a session of the list ended ("Ended ..."), and why this browser was signed out.
ENDED: dict[str, StrOrPromise] = {
    EndReason.LOGOUT: _("You signed out."),
    EndReason.LOGIN_REPLACED: _("You signed in again on this browser."),
    EndReason.USER: _("You ended it from another device."),
    EndReason.ADMIN: _("An administrator ended it."),
    EndReason.BULK: _("The site ended it."),
    EndReason.API: _("The site ended it."),
    EndReason.EXPIRED_ABSOLUTE: _("It reached its maximum lifetime."),
    EndReason.EXPIRED_INACTIVITY: _("It expired after a period of inactivity."),
    EndReason.USER_INACTIVE: _("Your account was deactivated."),
    EndReason.PASSWORD_CHANGED: _("Your password was changed."),
    EndReason.TOKEN_REUSE_DETECTED: _(
        "A security check ended it: its sign-in token was used twice, which can mean it was copied."
    ),
    EndReason.IP_CHANGED: _("A security policy ended it when its network changed."),
    EndReason.USER_AGENT_CHANGED: _("A security policy ended it when the browser changed."),
    EndReason.COUNTRY_CHANGED: _("A security policy ended it when it moved to another country."),
    EndReason.SESSION_LIMIT: _("It was ended to stay within the number of sessions allowed."),
}

SIGNED_OUT: dict[str, StrOrPromise] = {
    EndReason.USER: _("You were signed out: this session was ended from another of your devices."),
    EndReason.ADMIN: _("You were signed out by an administrator."),
    EndReason.BULK: _("You were signed out by the site."),
    EndReason.API: _("You were signed out by the site."),
    EndReason.EXPIRED_ABSOLUTE: _("Your session expired: it reached its maximum lifetime. Please sign in again."),
    EndReason.EXPIRED_INACTIVITY: _("Your session expired after a period of inactivity. Please sign in again."),
    EndReason.USER_INACTIVE: _("You were signed out: your account was deactivated."),
    EndReason.PASSWORD_CHANGED: _("You were signed out because your password was changed."),
    EndReason.TOKEN_REUSE_DETECTED: _(
        "You were signed out for your security: your session's token was used "
        "twice, which can mean it was copied. Please sign in again."
    ),
    EndReason.IP_CHANGED: _("You were signed out by a security policy: your network changed."),
    EndReason.USER_AGENT_CHANGED: _("You were signed out by a security policy: your browser changed."),
    EndReason.COUNTRY_CHANGED: _("You were signed out by a security policy: your session moved to another country."),
    EndReason.SESSION_LIMIT: _("You were signed out: a new sign-in went over the number of sessions allowed."),
    EndReason.LOGIN_REPLACED: _("You were signed out: you signed in again."),
}


def ended_in_words(reason: str) -> str:
    return str(ENDED.get(reason, _("It ended.")))


def signed_out_in_words(reason: str) -> str:
    return str(SIGNED_OUT.get(reason, _("You were signed out. Please sign in again.")))
