"""`inferq up` pieces that need no broker: the metrics-port plan and the supervised child process."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from inferq.supervisor import Supervised
from inferq.sysconfig import parse_system_config
from inferq.up import plan_ports

CONFIG = """
repository = "models"
routers = 2
metrics_port_base = 9400
[[deploy]]
model = "intent"
versions = ["1", "2"]
max_replicas = 3
lag_threshold = 500
[[deploy]]
model = "tabular"
versions = ["1"]
max_replicas = 2
lag_threshold = 2000
"""


def test_ports_go_to_routers_then_a_block_of_max_replicas_per_pool_then_the_scaler() -> None:
    plan = plan_ports(parse_system_config(CONFIG, base_dir=Path()))
    assert plan.routers == (9400, 9401)
    assert dict(plan.pools) == {("intent", "1"): 9402, ("intent", "2"): 9405, ("tabular", "1"): 9408}
    assert plan.scaler == 9410


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_for_pid(child: Supervised, other_than: int | None = None) -> int:
    deadline = time.monotonic() + 10
    while (pid := child.pid) is None or pid == other_than:
        assert time.monotonic() < deadline, "child did not start"
        await asyncio.sleep(0.02)
    return pid


async def test_a_child_that_dies_is_restarted_and_stop_terminates_it() -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    child = Supervised("sleeper", sleeper, dict(os.environ), restart_backoff_s=0.05, stop_grace_s=5)
    child.start()
    first = await wait_for_pid(child)
    os.kill(first, 9)
    second = await wait_for_pid(child, other_than=first)
    await asyncio.wait_for(child.stop(), 10)
    assert child.pid is None
    assert not alive(second)


async def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    stubborn = [
        sys.executable,
        "-c",
        "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "pathlib.Path(sys.argv[1]).touch(); time.sleep(60)",
        str(ready),
    ]
    child = Supervised("stubborn", stubborn, dict(os.environ), stop_grace_s=0.3)
    child.start()
    pid = await wait_for_pid(child)
    deadline = time.monotonic() + 10
    while not ready.exists():
        assert time.monotonic() < deadline, "child never got ready"
        await asyncio.sleep(0.02)
    started = time.monotonic()
    await asyncio.wait_for(child.stop(), 10)
    assert 0.3 <= time.monotonic() - started < 5
    assert not alive(pid)


async def test_stop_before_the_child_ever_started_is_fine() -> None:
    child = Supervised("never", [sys.executable, "-c", "pass"], dict(os.environ))
    await asyncio.wait_for(child.stop(), 5)
    assert child.pid is None
