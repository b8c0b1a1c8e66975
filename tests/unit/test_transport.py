"""The producer's memoised partitioner places keys exactly where aiokafka's (and Java's) would."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from inferq.transport import _partition


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=64))
def test_partition_matches_the_default_partitioner(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert _partition(key, partitions) == DefaultPartitioner()(key, every, every)
