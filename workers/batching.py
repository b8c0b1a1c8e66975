"""Dynamic batching policy, pure: when to flush, and which requests share one onnxruntime call.

Triton's dynamic batcher in spirit: a batch goes to the model when it is full
or when its oldest request has waited the maximum queue delay, whichever comes
first. Requests whose tensors stack (same input names, datatypes and non-batch
dims) share a call; the rest form groups of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """How large a batch may grow (in rows) and how long its oldest request may wait (seconds)."""

    max_batch_size: int
    max_queue_delay_s: float

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.max_queue_delay_s < 0:
            raise ValueError(f"max_queue_delay_s must be >= 0, got {self.max_queue_delay_s}")


def should_flush(pending: int, oldest_age_s: float, policy: BatchPolicy) -> bool:
    """Whether `pending` requests, the oldest `oldest_age_s` old, must go to the model now."""
    if pending == 0:
        return False
    return pending >= policy.max_batch_size or oldest_age_s >= policy.max_queue_delay_s


def flush_wait_s(pending: int, oldest_age_s: float, policy: BatchPolicy, idle_wait_s: float) -> float:
    """How long the fetcher may wait for more records before the batch is due.

    With nothing pending it may wait `idle_wait_s` (a long poll); otherwise the
    remainder of the oldest request's queue delay, never negative.
    """
    if pending == 0:
        return idle_wait_s
    return max(0.0, policy.max_queue_delay_s - oldest_age_s)


def plan_calls(items: Sequence[tuple[Hashable, int]], max_rows: int) -> list[list[int]]:
    """Group item indices into model calls.

    `items` holds, per request, its stacking key and its row count. Items with
    equal keys may share a call, in arrival order, as long as the call holds
    at most `max_rows` rows; an item larger than `max_rows` gets a call alone
    (validation rejects those before they get here; the plan stays total).
    """
    groups: dict[Hashable, list[list[int]]] = {}
    rows_in_last: dict[Hashable, int] = {}
    for index, (key, rows) in enumerate(items):
        calls = groups.setdefault(key, [])
        if calls and rows_in_last[key] + rows <= max_rows:
            calls[-1].append(index)
            rows_in_last[key] += rows
        else:
            calls.append([index])
            rows_in_last[key] = rows
    return [call for calls in groups.values() for call in calls]


def row_bounds(row_counts: Sequence[int]) -> list[tuple[int, int]]:
    """Row slices [start, stop) of each request in a stacked batch."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for rows in row_counts:
        bounds.append((start, start + rows))
        start += rows
    return bounds


def run_isolating(call: Callable[[int, int], T], size: int) -> list[tuple[int, int, T | Exception]]:
    """Run `call(lo, hi)` over [0, size); on failure split in halves until each failing item stands alone.

    Returns segments covering [0, size) in order: (lo, hi, result) for calls
    that succeeded and (i, i + 1, exception) for single items that fail alone.
    One bad request costs O(log n) extra calls and never takes its neighbours
    down with it.
    """
    segments: list[tuple[int, int, T | Exception]] = []

    def attempt(lo: int, hi: int) -> None:
        try:
            segments.append((lo, hi, call(lo, hi)))
        except Exception as exc:  # noqa: BLE001 - any model failure is isolated, then reported per item
            if hi - lo == 1:
                segments.append((lo, hi, exc))
                return
            mid = (lo + hi) // 2
            attempt(lo, mid)
            attempt(mid, hi)

    if size > 0:
        attempt(0, size)
    return segments
