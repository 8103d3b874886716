"""Text the database can store: PostgreSQL refuses NUL characters (in text and in jsonb)
and UTF-8 cannot encode a lone UTF-16 surrogate, which JSON and JavaScript can produce.

Identifiers and metadata carrying either are refused with a typed error before any query
(a query with them would fail in the driver: a 500 or a misleading 503); free text that
is only recorded (User-Agent, audit reasons) is cleaned instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def unstorable_reason(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return "it contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "it contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def usable_identifier(value: Any, max_length: int) -> bool:
    """A non-empty string of at most ``max_length`` that can be stored: anything else names
    no row, so callers answer "not found" without a query the driver would fail."""
    return isinstance(value, str) and 0 < len(value) <= max_length and unstorable_reason(value) is None


def storable(value: str) -> str:
    """``value`` with NULs dropped and lone surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
    return value


def json_depth(value: Any) -> int:
    """How deeply arrays/objects nest in a decoded JSON document (a scalar is 0); iterative."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def strings_in_json(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string of a decoded JSON document, object keys included, with where it is
    (``data.tags[0]``; a key is reported as ``a member name in data``); iterative, so any
    nesting depth is safe."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield f"a member name in {path}", key
                stack.append((child, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(item))


def unstorable_in_json(value: Any) -> str | None:
    """The first unstorable string (key or value) in a decoded JSON document, described."""
    for _path, text in strings_in_json(value):
        reason = unstorable_reason(text)
        if reason is not None:
            return f"{text[:40]!r}: {reason}"
    return None
