"""Table tests of the bench figures: batch sizes from reply headers, ratios, the BENCH.md verdicts."""

from __future__ import annotations

import math

import pytest

from bench.figures import (
    INFERQ,
    NAIVE,
    ORT_LIMIT,
    PIPE_LIMIT,
    ROUTER,
    BatchStats,
    Latency,
    Ratio,
    Throughput,
    batch_stats,
    call_histogram,
    p99_bound_ms,
    percentiles,
    ratio_value,
    verdicts,
)


def _t(workload: str, system: str, answered: int, seconds: float, **kw: int) -> Throughput:
    expected = kw.pop("expected", answered)
    return Throughput(
        workload, system, expected, answered, kw.get("errors", 0), 0, seconds, kw.get("early", 0)
    )


def _latency(workload: str, p99_ms: float, *, sent: int = 100, received: int = 100) -> Latency:
    return Latency(
        workload, 500.0, sent, received, received, 1.0, 2.0, p99_ms, p99_ms, BatchStats(1, 1, 1, 1)
    )


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([], BatchStats(0, 0.0, 0.0, 0)),
        ([1, 1, 1], BatchStats(3, 1.0, 1.0, 1)),
        # Four replies of a 4-row call are one call; two single calls make three calls in all.
        ([4, 4, 4, 4, 1, 1], BatchStats(3, 2.0, 1.0, 4)),
        ([8] * 8 + [2] * 2, BatchStats(2, 5.0, 2.0, 8)),
        # Replies without the header (baselines) are not calls.
        ([0, 0], BatchStats(0, 0.0, 0.0, 0)),
    ],
)
def test_batch_stats_count_calls_not_replies(sizes: list[int], expected: BatchStats) -> None:
    assert batch_stats(sizes) == expected


def test_a_partly_seen_call_still_counts_once() -> None:
    assert call_histogram([16, 16, 16]) == {16: 1}


def test_call_histogram() -> None:
    assert call_histogram([3, 3, 3, 1, 2, 2]) == {1: 1, 2: 1, 3: 1}


def test_percentiles() -> None:
    assert percentiles([1.0, 2.0, 3.0, 4.0], [50, 100]) == [2.5, 4.0]
    assert all(math.isnan(v) for v in percentiles([], [50, 99]))


def test_p99_bound_is_delay_plus_two_full_batches_plus_20ms() -> None:
    # 128 rows at 16,000 rows/s = 8 ms per full batch.
    assert p99_bound_ms(5.0, 128, 16_000.0) == pytest.approx(5.0 + 16.0 + 20.0)
    assert p99_bound_ms(2.0, 256, 0.0) == math.inf


def test_early_replies_count_as_answered_but_not_in_the_rate() -> None:
    t = _t("tabular", INFERQ, 1000, 2.0, early=200)
    assert t.complete
    assert t.rate == pytest.approx(400.0)


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [
        (_t("heavy", INFERQ, 900, 1.0), _t("heavy", ORT_LIMIT, 1000, 1.0), 0.9),
        (_t("heavy", INFERQ, 900, 1.0), None, None),
        # Incomplete runs are not compared.
        (_t("heavy", INFERQ, 899, 1.0, expected=900), _t("heavy", ORT_LIMIT, 1000, 1.0), None),
        (_t("heavy", INFERQ, 900, 1.0, errors=1), _t("heavy", ORT_LIMIT, 1000, 1.0), None),
    ],
)
def test_ratio_value(num: Throughput, den: Throughput | None, expected: float | None) -> None:
    rates = {(t.workload, t.system): t for t in (num, den) if t is not None}
    value = ratio_value(Ratio("heavy", INFERQ, ORT_LIMIT), rates)
    assert value == (None if expected is None else pytest.approx(expected))


def test_verdicts_judge_every_target() -> None:
    measured = [
        _t("heavy", ORT_LIMIT, 1000, 1.0),
        _t("heavy", INFERQ, 860, 1.0),
        _t("heavy", NAIVE, 100, 1.0),
        _t("tabular", PIPE_LIMIT, 1000, 1.0),
        _t("tabular", INFERQ, 690, 1.0),
        _t("tabular", NAIVE, 30, 1.0),
        _t("tabular", ROUTER, 420, 1.0),
    ]
    rates = {(t.workload, t.system): t for t in measured}
    latencies = {"tabular": _latency("tabular", 30.0), "heavy": _latency("heavy", 50.0, received=99)}
    got = {v.figure: v.label for v in verdicts(rates, latencies, {"tabular": 25.0, "heavy": 60.0})}
    assert got == {
        "heavy: inferq / ort-limit": "PASS",
        "tabular: inferq / pipe-limit": "FAIL",
        "tabular: inferq / naive": "PASS",
        "heavy: inferq / naive": "FAIL",
        "tabular: inferq --with-router / inferq": "PASS",
        "tabular: p99 at 50% load (ms)": "FAIL",
        # A latency run that lost replies has no p99 to judge.
        "heavy: p99 at 50% load (ms)": "N/A",
    }
