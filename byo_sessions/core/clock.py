"""The one source of "now" for the service layer.

Tests freeze and move time with ``freeze()`` / ``advance()`` (see the ``clock`` fixture in
``tests/conftest.py``) instead of sleeping; production code never calls them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    if _frozen is not None:
        return _frozen
    return timezone.now() + _offset


def freeze(at: datetime | None = None) -> None:
    global _frozen
    _frozen = at or timezone.now()


def advance(seconds: float) -> None:
    global _offset, _frozen
    if _frozen is not None:
        _frozen += timedelta(seconds=seconds)
    else:
        _offset += timedelta(seconds=seconds)


def reset() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None
