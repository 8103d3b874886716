"""``benchmarks/bench_requests.py --flat``: its seeding steps (no timing here; the
benchmark itself is run by hand, docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import re

import pytest

from benchmarks import flatness
from byo_sessions.core.tokens import hash_token
from byo_sessions.models import Device, Session
from byo_sessions.services import seeding


def test_each_step_seeds_up_to_its_size_with_tokens_of_its_own(transactional_db):
    """A later step adds only what is missing, with its own seed: its ids, tokens and device
    keys never collide with an earlier step's (the step at 1M reuses the users of 10k)."""
    flatness.seed_to(30, step=0)
    assert Session.objects.count() == 30
    devices_first = Device.objects.count()

    flatness.seed_to(130, step=1)
    assert Session.objects.count() == 130
    assert Device.objects.count() >= devices_first
    for step_seed, index in ((1000, 0), (1000, 29), (1001, 0), (1001, 99)):
        assert Session.objects.filter(token_hash=hash_token(seeding.seed_token(step_seed, index))).exists()

    flatness.seed_to(130, step=2)  # already there: nothing added
    assert Session.objects.count() == 130


@pytest.mark.parametrize(
    ("text", "sizes"), [("10000,1000000", (10_000, 1_000_000)), ("2_000, 20_000, 200_000", (2_000, 20_000, 200_000))]
)
def test_sizes_are_read_ascending(text, sizes):
    assert flatness.parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["10000", "1000000,10000", "10000,10000", "0,10", "ten,20", ""])
def test_bad_sizes_are_refused_naming_the_value(text):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(repr(text))):
        flatness.parse_sizes(text)
