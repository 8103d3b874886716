"""Filters of the account pages: relative times, places and end reasons in words."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from ..account.reasons import ended_in_words
from ..core import clock
from ..services.geo import country_name
from ..values import Location

register = template.Library()


@register.filter
def ago(value: datetime | None) -> str:
    """ "just now", "5 minutes ago", "2 days ago" (against the package clock, like every expiry)."""
    if value is None:
        return ""
    if (clock.now() - value).total_seconds() < 60:
        return _("just now")
    return _("%(time)s ago") % {"time": timesince(value, clock.now(), depth=1)}


@register.filter
def place(location: Location | None) -> str:
    """ "Berlin, Germany", "Germany", or "" when nothing is known."""
    if not location or not location.country:
        return location.city if location else ""
    name = country_name(location.country)
    return f"{location.city}, {name}" if location.city else name


@register.filter
def ended_reason(reason: str) -> str:
    return ended_in_words(reason)
