"""Table tests of the dynamic batching policy."""

from __future__ import annotations

import pytest

from workers.batching import BatchPolicy, flush_wait_s, plan_calls, row_bounds, run_isolating, should_flush

POLICY = BatchPolicy(max_batch_size=8, max_queue_delay_s=0.005)


@pytest.mark.parametrize(
    ("pending", "oldest_age_s", "expected"),
    [
        (0, 0.0, False),
        (0, 10.0, False),
        (1, 0.0, False),
        (7, 0.004, False),
        (8, 0.0, True),
        (9, 0.0, True),
        (1, 0.005, True),
        (1, 0.5, True),
    ],
)
def test_should_flush(pending: int, oldest_age_s: float, expected: bool) -> None:
    assert should_flush(pending, oldest_age_s, POLICY) is expected


@pytest.mark.parametrize(
    ("pending", "oldest_age_s", "expected"),
    [(0, 0.0, 0.5), (1, 0.0, 0.005), (1, 0.002, 0.003), (1, 0.01, 0.0)],
)
def test_flush_wait(pending: int, oldest_age_s: float, expected: float) -> None:
    assert flush_wait_s(pending, oldest_age_s, POLICY, idle_wait_s=0.5) == pytest.approx(expected)


def test_zero_delay_flushes_at_once() -> None:
    assert should_flush(1, 0.0, BatchPolicy(max_batch_size=64, max_queue_delay_s=0.0))


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        BatchPolicy(max_batch_size=0, max_queue_delay_s=0.001)
    with pytest.raises(ValueError, match="max_queue_delay_s"):
        BatchPolicy(max_batch_size=1, max_queue_delay_s=-1)


@pytest.mark.parametrize(
    ("items", "max_rows", "expected"),
    [
        ([], 4, []),
        ([("a", 1)] * 3, 4, [[0, 1, 2]]),
        ([("a", 1)] * 5, 4, [[0, 1, 2, 3], [4]]),
        ([("a", 1), ("b", 1), ("a", 1)], 4, [[0, 2], [1]]),
        ([("a", 3), ("a", 2), ("a", 1)], 4, [[0], [1, 2]]),
        ([("a", 9), ("a", 1)], 4, [[0], [1]]),
        ([("a", 2), ("b", 2), ("a", 2), ("b", 3)], 4, [[0, 2], [1], [3]]),
    ],
)
def test_plan_calls(items: list[tuple[str, int]], max_rows: int, expected: list[list[int]]) -> None:
    assert plan_calls(items, max_rows) == expected


def test_row_bounds() -> None:
    assert row_bounds([1, 3, 1]) == [(0, 1), (1, 4), (4, 5)]


@pytest.mark.parametrize(
    ("size", "bad", "expected_errors", "max_calls"),
    [
        (0, set(), [], 0),
        (8, set(), [], 1),
        (8, {3}, [3], 1 + 2 * 3),
        (8, {0, 7}, [0, 7], 1 + 2 * 3 * 2),
        (5, {0, 1, 2, 3, 4}, [0, 1, 2, 3, 4], 9),
    ],
)
def test_run_isolating_answers_every_good_item(
    size: int, bad: set[int], expected_errors: list[int], max_calls: int
) -> None:
    calls: list[tuple[int, int]] = []

    def call(lo: int, hi: int) -> list[int]:
        calls.append((lo, hi))
        if any(lo <= b < hi for b in bad):
            raise RuntimeError("bad row")
        return list(range(lo, hi))

    segments = run_isolating(call, size)
    covered = [i for lo, hi, _ in segments for i in range(lo, hi)]
    assert covered == list(range(size))
    errors = [lo for lo, _, res in segments if isinstance(res, Exception)]
    assert errors == expected_errors
    for lo, hi, res in segments:
        if not isinstance(res, Exception):
            assert res == list(range(lo, hi))
    assert len(calls) <= max_calls
