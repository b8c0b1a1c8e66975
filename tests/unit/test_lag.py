"""Lag arithmetic: end offset minus committed, and KEDA's rules for a group that never committed."""

from __future__ import annotations

import pytest

from workers.lag import PartitionLag, ResetPolicy, lag_report, partition_lag


@pytest.mark.parametrize(
    ("end_offset", "committed", "reset", "expected"),
    [
        (10, 4, "earliest", 6),
        (10, 4, "latest", 6),  # a committed offset makes the reset policy irrelevant
        (10, 10, "earliest", 0),
        (0, 0, "earliest", 0),
        (5, 7, "earliest", 0),  # a commit past the end (read late, or log truncated) is no backlog
        (10, None, "earliest", 10),  # never committed, starts at the beginning: everything is lag
        (0, None, "earliest", 0),
        (10, None, "latest", 1),  # never committed, would skip to the end: KEDA keeps one consumer
        (0, None, "latest", 1),
    ],
)
def test_partition_lag(end_offset: int, committed: int | None, reset: ResetPolicy, expected: int) -> None:
    assert partition_lag(end_offset, committed, reset) == expected


def test_report_sums_partitions_in_order_and_marks_the_uncommitted() -> None:
    report = lag_report("g", "t", end_offsets={2: 5, 0: 10, 1: 7}, committed={0: 4, 1: 7})

    assert report.partitions == (
        PartitionLag(partition=0, end_offset=10, committed=4, lag=6),
        PartitionLag(partition=1, end_offset=7, committed=7, lag=0),
        PartitionLag(partition=2, end_offset=5, committed=None, lag=5),
    )
    assert report.total == 11
    assert (report.group, report.topic) == ("g", "t")


def test_report_applies_the_reset_policy() -> None:
    report = lag_report("g", "t", end_offsets={0: 10, 1: 3}, committed={0: 8}, reset="latest")

    assert [p.lag for p in report.partitions] == [2, 1]
    assert report.total == 3


def test_report_of_no_partitions_is_empty() -> None:
    report = lag_report("g", "t", end_offsets={}, committed={})

    assert report.partitions == ()
    assert report.total == 0
