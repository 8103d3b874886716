"""Session ids that sort by creation time.

An id is ``<prefix><10 characters of milliseconds since 1970><22 url-safe base64 random
characters>`` (128 random bits). The time comes first so that ids made close together
sort close together, as UUIDv7 does: the primary-key index grows at its end instead of
at random pages, and the rows a batch of ids names (a session's tags, retired tokens and
audit rows were written when it was) sit on neighbouring pages of every table. Pruning
and bulk ending walk batches in id order, so they read and write a few pages per batch
instead of one page per row. What the time reveals, when the session was created, is
shown beside the id everywhere it is shown.

The time is in Crockford's base32 in lower case: digits then letters, which sort the same
under the C collation and under natural-language ones (``en_US.UTF-8`` ignores ``-`` and
``_`` in its first pass, so they never come before the random part).
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

SORTABLE_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
TIME_CHARS = 10  # 50 bits of milliseconds: enough until the year 37,648
RANDOM_BYTES = 16


def _sortable_millis(at: datetime) -> str:
    millis = max(0, int(at.timestamp() * 1000))
    chars = []
    for _ in range(TIME_CHARS):
        millis, digit = divmod(millis, 32)
        chars.append(SORTABLE_ALPHABET[digit])
    return "".join(reversed(chars))


def time_ordered_id(prefix: str, at: datetime, random_part: bytes | None = None) -> str:
    """``prefix`` + ``at`` + 128 random bits (``random_part``, 16 bytes, when the caller
    derives them, as seeding does)."""
    body = random_part if random_part is not None else secrets.token_bytes(RANDOM_BYTES)
    if len(body) != RANDOM_BYTES:
        raise ValueError(f"random_part must be {RANDOM_BYTES} bytes")
    return prefix + _sortable_millis(at) + base64.urlsafe_b64encode(body).rstrip(b"=").decode("ascii")
