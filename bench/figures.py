"""The figures of a run and the BENCH.md targets they are judged against, pure.

Everything here is a function of plain measured values, so the verdicts printed by
`make bench` have table tests of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ORT_LIMIT = "ort-limit"
PIPE_LIMIT = "pipe-limit"
NAIVE = "naive"
INFERQ = "inferq"
ROUTER = "inferq --with-router"
SYSTEMS = (ORT_LIMIT, PIPE_LIMIT, NAIVE, INFERQ, ROUTER)
"""Every system, in the order the harness runs and the table prints them."""


@dataclass(frozen=True, slots=True)
class Throughput:
    """A backlog drained by one system: how many answers in how many seconds."""

    workload: str
    system: str
    expected: int
    answered: int
    """Distinct requests answered with a success reply."""
    errors: int
    duplicates: int
    seconds: float
    early: int = 0
    """Replies already written when t0 was observed: answered before the window, not counted in it."""

    @property
    def rate(self) -> float:
        """Requests answered per second within the window (rows per second for ort-limit)."""
        return (self.answered - self.early) / self.seconds if self.seconds > 0 else 0.0

    @property
    def complete(self) -> bool:
        """Every request was answered, and only with success replies."""
        return self.answered == self.expected and self.errors == 0


@dataclass(frozen=True, slots=True)
class BatchStats:
    """Sizes of the onnxruntime calls a worker made (per call, not per request)."""

    calls: int
    mean: float
    p50: float
    max: int

    def to_json(self) -> dict[str, float]:
        """Plain values for report.json."""
        return {"calls": self.calls, "mean": self.mean, "p50": self.p50, "max": self.max}


@dataclass(frozen=True, slots=True)
class Latency:
    """An open-loop run: offered rate, what came back, and its latency percentiles."""

    workload: str
    offered_rate: float
    sent: int
    received: int
    measured: int
    """Requests after the warm-up that the percentiles are computed over."""
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    batches: BatchStats


def percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    """The `qs` percentiles (0..100, linear interpolation) of `values`; NaN for no values."""
    if not values:
        return [float("nan")] * len(qs)
    return [float(v) for v in np.percentile(np.asarray(values, dtype=np.float64), qs)]


def batch_stats(reply_batch_sizes: Iterable[int]) -> BatchStats:
    """Per-call batch sizes from the replies' `inferq-batch-size` headers.

    A call of size b answers b requests, so it shows up b times among the
    replies: b replies of size b are one call.
    """
    counts = Counter(reply_batch_sizes)
    calls = {size: round(n / size) or 1 for size, n in counts.items() if size > 0}
    total = sum(calls.values())
    if not total:
        return BatchStats(calls=0, mean=0.0, p50=0.0, max=0)
    sizes = sorted(calls)
    half, seen, p50 = total / 2, 0, float(sizes[-1])
    for size in sizes:
        seen += calls[size]
        if seen >= half:
            p50 = float(size)
            break
    mean = sum(size * n for size, n in calls.items()) / total
    return BatchStats(calls=total, mean=mean, p50=p50, max=sizes[-1])


def call_histogram(reply_batch_sizes: Iterable[int]) -> dict[int, int]:
    """Number of onnxruntime calls per batch size (see `batch_stats`)."""
    counts = Counter(reply_batch_sizes)
    return {size: round(n / size) or 1 for size, n in sorted(counts.items()) if size > 0}


def p99_bound_ms(max_queue_delay_ms: float, max_batch_size: int, ort_rows_per_s: float) -> float:
    """BENCH.md's p99 bar: max queue delay + 2 x one full batch's compute + 20 ms."""
    full_batch_ms = max_batch_size / ort_rows_per_s * 1000.0 if ort_rows_per_s > 0 else float("inf")
    return max_queue_delay_ms + 2.0 * full_batch_ms + 20.0


@dataclass(frozen=True, slots=True)
class Ratio:
    """`numerator / denominator` throughput of one workload, e.g. inferq / naive on heavy."""

    workload: str
    numerator: str
    denominator: str


RATIOS: tuple[Ratio, ...] = tuple(
    Ratio(w, num, den)
    for w in ("tabular", "intent", "heavy")
    for num, den in ((INFERQ, ORT_LIMIT), (INFERQ, PIPE_LIMIT), (INFERQ, NAIVE), (ROUTER, INFERQ))
)
"""Every ratio the table prints."""


@dataclass(frozen=True, slots=True)
class RatioTarget:
    """A BENCH.md bar on a throughput ratio: the ratio must be at least `at_least`."""

    ratio: Ratio
    at_least: float


TARGETS: tuple[RatioTarget, ...] = (
    RatioTarget(Ratio("heavy", INFERQ, ORT_LIMIT), 0.85),
    RatioTarget(Ratio("tabular", INFERQ, PIPE_LIMIT), 0.70),
    RatioTarget(Ratio("tabular", INFERQ, NAIVE), 20.0),
    RatioTarget(Ratio("heavy", INFERQ, NAIVE), 10.0),
    RatioTarget(Ratio("tabular", ROUTER, INFERQ), 0.6),
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One line of the PASS/FAIL table."""

    figure: str
    value: float | None
    target: str
    passed: bool | None
    """None when the figure could not be measured (a system missing or incomplete)."""

    @property
    def label(self) -> str:
        """PASS, FAIL or N/A."""
        return "N/A" if self.passed is None else ("PASS" if self.passed else "FAIL")


Rates = Mapping[tuple[str, str], Throughput]
"""(workload, system) -> throughput."""


def ratio_value(ratio: Ratio, rates: Rates) -> float | None:
    """The ratio of two measured rates; None if either is missing, incomplete or zero."""
    num = rates.get((ratio.workload, ratio.numerator))
    den = rates.get((ratio.workload, ratio.denominator))
    if num is None or den is None or not num.complete or not den.complete or den.rate <= 0:
        return None
    return num.rate / den.rate


def ratio_name(ratio: Ratio) -> str:
    """`heavy: inferq / ort-limit`."""
    return f"{ratio.workload}: {ratio.numerator} / {ratio.denominator}"


def verdicts(
    rates: Rates, latencies: Mapping[str, Latency], p99_bounds: Mapping[str, float]
) -> list[Verdict]:
    """Every BENCH.md target judged: the ratio bars, then p99 at 50% load per workload."""
    out = []
    for bar in TARGETS:
        value = ratio_value(bar.ratio, rates)
        passed = None if value is None else value >= bar.at_least
        out.append(Verdict(ratio_name(bar.ratio), value, f">= {bar.at_least:g}", passed))
    for workload, latency in latencies.items():
        bound = p99_bounds.get(workload)
        complete = latency.received == latency.sent and latency.measured > 0
        value = latency.p99_ms if complete else None
        passed = None if value is None or bound is None else value <= bound
        target = "n/a" if bound is None else f"<= {bound:.1f} ms"
        out.append(Verdict(f"{workload}: p99 at 50% load (ms)", value, target, passed))
    return out
