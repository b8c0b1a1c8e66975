"""The scaler↔pool control files and the controller that applies them, with a fake pool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from workers.poolctl import (
    FilePool,
    PoolController,
    PoolStatus,
    desired_path,
    read_desired,
    read_status,
    status_path,
    write_desired,
    write_status,
)


class FakePool:
    def __init__(self) -> None:
        self.size = 0
        self.resizes: list[int] = []
        self.stopped = False

    def pids(self) -> list[int]:
        return [1000 + i for i in range(self.size)]

    async def resize(self, n: int) -> None:
        self.resizes.append(n)
        self.size = n
        await asyncio.sleep(0.05)  # a shrink waits for draining processes

    async def stop(self) -> None:
        self.stopped = True
        self.size = 0


async def eventually(predicate: Callable[[], bool], timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_desired_size_round_trips(tmp_path: Path) -> None:
    write_desired(tmp_path, "intent", "2", 3)
    assert desired_path(tmp_path, "intent", "2").read_text() == "3\n"
    assert read_desired(tmp_path, "intent", "2") == 3


@pytest.mark.parametrize("text", ["", "three", "-1", "2.5"])
def test_an_unreadable_desired_size_is_none(tmp_path: Path, text: str) -> None:
    desired_path(tmp_path, "m", "1").write_text(text)
    assert read_desired(tmp_path, "m", "1") is None


def test_a_missing_desired_file_is_none(tmp_path: Path) -> None:
    assert read_desired(tmp_path, "m", "1") is None


def test_a_negative_desired_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        write_desired(tmp_path, "m", "1", -1)


def test_status_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_status(tmp_path, "m", "1", PoolStatus(size=2, pids=(11, 12, 13)))
    assert read_status(tmp_path, "m", "1") == PoolStatus(size=2, pids=(11, 12, 13))
    assert [p.name for p in tmp_path.iterdir()] == [status_path(tmp_path, "m", "1").name]


@pytest.mark.parametrize(
    "body", [b"", b"{", b"[]", b'{"size": -1}', b'{"size": "2"}', b'{"size": 1, "pids": 3}']
)
def test_an_unreadable_status_is_none(tmp_path: Path, body: bytes) -> None:
    status_path(tmp_path, "m", "1").write_bytes(body)
    assert read_status(tmp_path, "m", "1") is None


async def test_file_pool_reads_the_status_and_writes_the_desired_size(tmp_path: Path) -> None:
    pool = FilePool(tmp_path, "m", "1")
    assert pool.size is None
    write_status(tmp_path, "m", "1", PoolStatus(size=2, pids=(5, 6)))
    assert pool.size == 2
    await pool.resize(4)
    assert read_desired(tmp_path, "m", "1") == 4


async def test_controller_starts_at_initial_follows_the_file_and_stops_the_pool(tmp_path: Path) -> None:
    write_desired(tmp_path, "m", "1", 7)  # left over from an earlier run: must not win
    pool, stop = FakePool(), asyncio.Event()
    controller = PoolController(pool, tmp_path, "m", "1", initial=2, limit=4, poll_interval_s=0.02)
    runner = asyncio.create_task(controller.run(stop))
    await eventually(lambda: read_status(tmp_path, "m", "1") == PoolStatus(2, (1000, 1001)))
    write_desired(tmp_path, "m", "1", 3)
    await eventually(lambda: (status := read_status(tmp_path, "m", "1")) is not None and status.size == 3)
    write_desired(tmp_path, "m", "1", 9)
    await eventually(lambda: pool.resizes[-1] == 4)
    stop.set()
    await asyncio.wait_for(runner, 2.0)
    assert pool.resizes == [2, 3, 4]
    assert pool.stopped
    assert not desired_path(tmp_path, "m", "1").exists()
    assert not status_path(tmp_path, "m", "1").exists()


async def test_controller_ignores_a_garbled_desired_file(tmp_path: Path) -> None:
    pool, stop = FakePool(), asyncio.Event()
    controller = PoolController(pool, tmp_path, "m", "1", initial=1, limit=4, poll_interval_s=0.02)
    runner = asyncio.create_task(controller.run(stop))
    await eventually(lambda: pool.resizes == [1])
    desired_path(tmp_path, "m", "1").write_text("lots")
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(runner, 2.0)
    assert pool.resizes == [1]
