"""``benchmarks/bench_requests.py --flat``: its seeding, options and verdict (no timing
here; the benchmark itself is run by hand, docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import re

import pytest

from benchmarks import bench_requests, flatness
from byo_sessions.core.tokens import hash_token
from byo_sessions.models import Session
from byo_sessions.services import seeding


def test_seeding_adds_only_what_is_missing_with_tokens_of_its_own(transactional_db):
    """Each copy is seeded once from the benchmark's few sessions; seeded again to a larger
    size, the table gets new ids and tokens (a seed per step), never a repeated one."""
    flatness.seed_to(30, step=0)
    assert Session.objects.count() == 30

    flatness.seed_to(130, step=1)
    assert Session.objects.count() == 130
    for step_seed, index in ((1000, 0), (1000, 29), (1001, 0), (1001, 99)):
        assert Session.objects.filter(token_hash=hash_token(seeding.seed_token(step_seed, index))).exists()

    flatness.seed_to(130, step=2)  # already there: nothing added
    assert Session.objects.count() == 130


def test_hot_rows_are_sampled_only_from_a_table_large_enough(transactional_db):
    flatness.seed_to(20, step=0)
    assert flatness.random_token_hashes(21) == []
    sample = flatness.random_token_hashes(20)
    assert sorted(sample) == sorted(Session.objects.values_list("token_hash", flat=True))
    assert flatness.time_hot_rows(sample, 40) > 0


@pytest.mark.parametrize(
    ("text", "sizes"), [("10000,1000000", (10_000, 1_000_000)), ("2_000, 20_000, 200_000", (2_000, 20_000, 200_000))]
)
def test_sizes_are_read_ascending(text, sizes):
    assert flatness.parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["10000", "1000000,10000", "10000,10000", "0,10", "ten,20", ""])
def test_bad_sizes_are_refused_naming_the_value(text):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(repr(text))):
        flatness.parse_sizes(text)


def test_flat_options_default_and_combine():
    args = bench_requests.parse_args(["--flat"])
    assert args.flat_sizes == flatness.DEFAULT_SIZES and args.flat_rounds == flatness.DEFAULT_ROUNDS
    args = bench_requests.parse_args(["--flat", "--flat-sizes", "500,5000", "--flat-rounds", "3"])
    assert args.flat_sizes == (500, 5000) and args.flat_rounds == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["--flat", "--sqlite"],
        ["--flat", "--postgres", "127.0.0.1:5432", "--pgname", "seeded"],
        ["--flat-sizes", "500,5000"],
        ["--flat-rounds", "3"],
        ["--flat", "--flat-rounds", "0"],
    ],
)
def test_flat_options_that_cannot_work_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        bench_requests.parse_args(argv)
    assert exited.value.code == 2
    assert "--flat" in capsys.readouterr().err


def _size(sessions: int, byo: list[float], stock: list[float]) -> flatness.Size:
    return flatness.Size(database=f"db_{sessions}", sessions=sessions, wall={"stock": stock, "byo": byo})


@pytest.mark.parametrize(
    ("large", "verdict"),
    [([1100.0, 1140.0, 1090.0], "within 15%: met"), ([1200.0, 1160.0, 1180.0], "within 15%: NOT met")],
)
def test_the_verdict_compares_the_medians_of_ours_at_both_ends(large, verdict, capsys):
    """Medians 1,000 and 1,100 us: +10%, met; 1,000 and 1,180 us: +18%, not met (stock's
    change is printed, never part of the verdict)."""
    small = _size(10_000, [1000.0, 990.0, 1010.0], [2000.0, 2100.0, 1900.0])
    flatness.report([small, _size(1_000_000, large, [3000.0, 3000.0, 3000.0])])
    lines = capsys.readouterr().out.splitlines()
    (byo,) = [line for line in lines if line.strip().startswith("byo ")]
    assert byo.rstrip().endswith(verdict)
    (stock,) = [line for line in lines if line.strip().startswith("stock ")]
    assert "+50.0%" in stock and "met" not in stock
