"""Form fields that let people edit a policy without writing JSON or counting seconds:
CIDR lists one per line, durations with units ("12 hours"), and "Inherit" spelled out
for every setting a rule may leave to the defaults. The values they produce are the
ones the model stores, so the model's validators (``policy.py``'s cleaners) still decide.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms

INHERIT = "Inherit (not set by this rule)"
_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$")


def duration_text(seconds: int) -> str:
    """``43200`` -> "12 hours": the largest unit that divides it evenly."""
    for name, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {name}{'' if n == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


class DurationField(forms.Field):
    """Seconds, typed as "90 minutes", "12h", "14 days" (a bare number is seconds); empty inherits."""

    widget = forms.TextInput(attrs={"placeholder": "inherit", "size": 14})

    def prepare_value(self, value: Any) -> Any:
        return duration_text(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def to_python(self, value: Any) -> int | None:
        if value in (None, ""):
            return None
        match = _DURATION.match(str(value).lower())
        if match is None or match.group(2) not in ("", *_UNITS):
            raise forms.ValidationError(f"Write a duration such as 30 minutes, 12 hours or 14 days, not {value!r}.")
        return int(match.group(1)) * _UNITS.get(match.group(2), 1)


class CidrListField(forms.Field):
    """One network per line (or separated by commas); empty inherits. A JSON list is read too,
    so what the export wrote can be pasted."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40, "placeholder": "10.0.0.0/8\n2001:db8::/32"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return "\n".join(str(item) for item in value)
        return "" if value is None else value  # the text as typed, after a failed save too

    def to_python(self, value: Any) -> list[str] | None:
        text = "" if value is None else str(value).strip()
        if not text:
            return None
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                raise forms.ValidationError(
                    "That looks like JSON but is not a list; write one network per line."
                ) from exc
            return parsed if isinstance(parsed, list) else [parsed]
        return [item.strip() for item in re.split(r"[\n,]+", text) if item.strip()]


class InheritBooleanSelect(forms.NullBooleanSelect):
    def __init__(self, attrs: Any = None) -> None:
        super().__init__(attrs)
        self.choices = [("unknown", INHERIT), ("true", "Yes"), ("false", "No")]


def spell_out_inherit(form: forms.BaseForm) -> None:
    """Every empty choice of a policy form says what empty means."""
    for bound in form.fields.values():
        choices = getattr(bound, "choices", None)
        if isinstance(bound, forms.TypedChoiceField | forms.ChoiceField) and choices:
            bound.choices = [("", INHERIT) if value == "" else (value, label) for value, label in choices]
