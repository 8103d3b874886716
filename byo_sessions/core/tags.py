"""Session tags: ``type:value`` labels that select policies and filter sessions.

Tags arrive from application code and from the HTTP API, so they are parsed
strictly and rejected with a sentence a person can act on.

Rules for one tag:

- The **type** is everything before the first ``:`` and matches
  ``[a-z][a-z0-9_-]{0,31}``: lowercase ASCII, starting with a letter,
  at most 32 characters (``org``, ``role``, ``login_type``).
- The **value** is everything after the first ``:``: 1 to 128 characters from
  ``A-Z a-z 0-9 . _ @ + = / - :``. Further colons belong to the value, so
  ``idp:urn:acme`` is type ``idp`` with value ``urn:acme``. The value is
  case-sensitive and kept as written.
- No whitespace or control characters anywhere; the whole tag is at most
  161 characters (32 + 1 + 128).
- Anything that is not a ``str`` is an error (:class:`TagFormatError`), not a crash.

A session carries at most :data:`MAX_TAGS` distinct tags; duplicates are
dropped keeping the first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "Tag",
    "TagFormatError",
    "is_create_only",
    "is_valid_tag_type",
    "normalise_tags",
    "parse_tag",
    "tag_type",
]

MAX_TYPE_LENGTH = 32
MAX_VALUE_LENGTH = 128
MAX_TAG_LENGTH = MAX_TYPE_LENGTH + 1 + MAX_VALUE_LENGTH  # 161
MAX_TAGS = 32
ALL_TYPES = "*"

_TYPE_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_VALUE_RE = re.compile(r"[A-Za-z0-9._@+=/:-]{1,128}")
_SHOWN_CHARS = 60


class TagFormatError(ValueError):
    """A tag (or list of tags) that breaks the rules in this module's docstring."""

    def __init__(self, tag: str, reason: str) -> None:
        super().__init__(reason)
        self.tag = tag
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Tag:
    """A parsed tag; ``str(tag)`` gives back the canonical ``type:value``."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


def _shown(raw: object) -> str:
    """Quote a possibly huge or hostile value for an error sentence."""
    text = repr(raw)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def is_valid_tag_type(value: object) -> bool:
    """True when ``value`` is a well-formed tag type such as ``org``."""
    return isinstance(value, str) and _TYPE_RE.fullmatch(value) is not None


def parse_tag(raw: object) -> Tag:
    """Parse and validate one tag, raising :class:`TagFormatError` naming it."""
    if not isinstance(raw, str):
        raise TagFormatError(repr(raw), f"Tag {_shown(raw)} is not text; tags are strings like 'org:acme'.")
    shown = _shown(raw)
    if not raw:
        raise TagFormatError(raw, "A tag cannot be empty; use the form type:value, e.g. 'org:acme'.")
    if len(raw) > MAX_TAG_LENGTH:
        raise TagFormatError(raw, f"Tag {shown} is {len(raw)} characters long; the limit is {MAX_TAG_LENGTH}.")
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise TagFormatError(raw, f"Tag {shown} contains whitespace or control characters.")
    type_, sep, value = raw.partition(":")
    if not sep:
        raise TagFormatError(raw, f"Tag {shown} has no ':'; use the form type:value, e.g. 'org:acme'.")
    if not _TYPE_RE.fullmatch(type_):
        raise TagFormatError(
            raw,
            f"Tag {shown} has an invalid type {_shown(type_)}: it must start with a lowercase "
            f"letter and use only a-z, 0-9, '_' and '-' (at most {MAX_TYPE_LENGTH} characters).",
        )
    if not value:
        raise TagFormatError(raw, f"Tag {shown} has an empty value after ':'.")
    if not _VALUE_RE.fullmatch(value):
        problem = (
            f"is {len(value)} characters long (the limit is {MAX_VALUE_LENGTH})"
            if len(value) > MAX_VALUE_LENGTH
            else "may only use letters, digits and . _ @ + = / - :"
        )
        raise TagFormatError(raw, f"Tag {shown} has an invalid value: it {problem}.")
    return Tag(type_, value)


def normalise_tags(raw: Iterable[str] | None) -> list[str]:
    """Validate a session's tags, drop duplicates (first wins) and enforce :data:`MAX_TAGS`."""
    if raw is None:
        return []
    if isinstance(raw, (str, bytes)):
        raise TagFormatError(_shown(raw), f"Tags must be a list of strings, not the single value {_shown(raw)}.")
    try:
        items = list(raw)
    except TypeError:
        raise TagFormatError(_shown(raw), f"Tags must be a list of strings, not {_shown(raw)}.") from None
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(str(parse_tag(item)), None)
    if len(seen) > MAX_TAGS:
        raise TagFormatError(
            list(seen)[MAX_TAGS],
            f"A session can have at most {MAX_TAGS} distinct tags; {len(seen)} were given.",
        )
    return list(seen)


def tag_type(tag: str) -> str:
    """The type part of a valid tag (``org`` for ``org:acme``)."""
    return parse_tag(tag).type


def is_create_only(tag: str, create_only_types: Sequence[str]) -> bool:
    """True when ``tag`` may only be set at creation; ``["*"]`` makes every tag create-only."""
    return ALL_TYPES in create_only_types or tag_type(tag) in create_only_types
