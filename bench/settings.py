"""One frozen settings object per bench run, built from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.procs import REPO_ROOT

SWEEP_BATCHES = (16, 64, 256)
SWEEP_DELAYS_MS = (1.0, 5.0, 20.0)
SWEEP_WORKLOADS = ("heavy", "tabular")


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """How big and how long every measurement of a run is."""

    quick: bool
    workloads: tuple[str, ...]
    n: int
    """Requests in each pre-loaded backlog."""
    latency_s: float
    """Duration of each open-loop latency run."""
    warmup_s: float
    """Requests sent in the first seconds of a latency run are not measured."""
    ort_min_s: float = 1.0
    """ort-limit runs at least this long (and at least `n` rows), so fast models are timed over many calls."""
    load: float = 0.5
    """Offered rate of the latency runs, as a share of inferq's saturation throughput."""
    partitions: int = 8
    stall_s: float = 30.0
    """A run that gets no new reply for this long is abandoned (and reported incomplete)."""
    sweep: bool = False
    sweep_n: int = 10_000
    sweep_latency_s: float = 4.0
    sweep_batches: tuple[int, ...] = SWEEP_BATCHES
    sweep_delays_ms: tuple[float, ...] = SWEEP_DELAYS_MS
    sweep_workloads: tuple[str, ...] = SWEEP_WORKLOADS
    models: Path = REPO_ROOT / "models"
    results: Path = REPO_ROOT / "bench" / "results"

    @classmethod
    def full(cls, workloads: tuple[str, ...], *, n: int | None = None, sweep: bool = True) -> BenchSettings:
        """`make bench`: 20,000-request backlogs, 10 s latency runs, the sweep."""
        return cls(quick=False, workloads=workloads, n=n or 20_000, latency_s=10.0, warmup_s=2.0, sweep=sweep)

    @classmethod
    def quick_run(cls, workloads: tuple[str, ...], *, n: int | None = None) -> BenchSettings:
        """`make bench-quick`: small backlogs, short latency runs, no sweep (under a minute)."""
        return cls(
            quick=True,
            workloads=workloads,
            n=n or 1500,
            latency_s=1.5,
            warmup_s=0.5,
            ort_min_s=0.2,
            stall_s=15.0,
            sweep=False,
        )
