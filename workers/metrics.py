"""Prometheus metrics of a worker process, labelled by model and version."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

REQUESTS = Counter(
    "inferq_worker_requests",
    "Requests answered, by outcome",
    ["model", "version", "status", "code"],
)
SHADOW = Counter(
    "inferq_worker_shadow_requests", "Shadow copies inferred (never replied)", ["model", "version"]
)
QUEUE_SECONDS = Histogram(
    "inferq_worker_queue_seconds",
    "Time from fetch to model call",
    ["model", "version"],
    buckets=_LATENCY_BUCKETS,
)
INFERENCE_SECONDS = Histogram(
    "inferq_worker_inference_seconds",
    "Time of one onnxruntime call",
    ["model", "version"],
    buckets=_LATENCY_BUCKETS,
)
END_TO_END_SECONDS = Histogram(
    "inferq_worker_end_to_end_seconds",
    "Time from the request record's timestamp to its reply being acknowledged",
    ["model", "version"],
    buckets=_LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram(
    "inferq_worker_batch_size",
    "Rows per onnxruntime call",
    ["model", "version"],
    buckets=_BATCH_BUCKETS,
)
IN_FLIGHT = Gauge("inferq_worker_in_flight", "Requests fetched and not yet committed", ["model", "version"])


_VECTOR_FROM = 16
"""Below this many values numpy's fixed cost exceeds a plain loop of observe()."""


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """`histogram.observe(v) for v in values`, in one vectorised pass.

    Per request, two `observe` calls cost more than decoding the request's
    body; this buckets a whole batch with one `searchsorted`. It updates the
    child's bucket and sum values the way `Histogram.observe` does (le is
    inclusive, the last bound is +Inf).
    """
    if len(values) < _VECTOR_FROM:
        for value in values:
            histogram.observe(value)
        return
    amounts = np.asarray(values, dtype=np.float64)
    # prometheus_client has no bulk observe: these are the fields its own observe() updates.
    bounds = np.asarray(histogram._upper_bounds)
    counts = np.bincount(np.searchsorted(bounds, amounts, side="left"), minlength=len(bounds))
    for bucket, count in zip(histogram._buckets, counts.tolist(), strict=False):
        if count:
            bucket.inc(count)
    histogram._sum.inc(float(amounts.sum()))


class WorkerMetrics:
    """The metric children of one model version, bound once so the hot path does no label lookups."""

    def __init__(self, model: str, version: str) -> None:
        self._labels = (model, version)
        self._ok = REQUESTS.labels(model, version, "ok", "")
        self._shadow = SHADOW.labels(model, version)
        self._queue = QUEUE_SECONDS.labels(model, version)
        self._inference = INFERENCE_SECONDS.labels(model, version)
        self._end_to_end = END_TO_END_SECONDS.labels(model, version)
        self._batch = BATCH_SIZE.labels(model, version)
        self._in_flight = IN_FLIGHT.labels(model, version)

    def ok(self, n: int) -> None:
        """Count successful replies."""
        self._ok.inc(n)

    def error(self, code: str) -> None:
        """Count an error reply (rare: the label lookup is fine here)."""
        REQUESTS.labels(*self._labels, "error", code).inc()

    def shadow(self, n: int) -> None:
        """Count shadow copies inferred."""
        self._shadow.inc(n)

    def call(self, rows: int, seconds: float) -> None:
        """Record one model call."""
        self._batch.observe(rows)
        self._inference.observe(seconds)

    def queued(self, seconds: Sequence[float]) -> None:
        """Record requests' times from fetch to model call."""
        observe_many(self._queue, seconds)

    def end_to_end(self, seconds: Sequence[float]) -> None:
        """Record requests' end-to-end latencies."""
        observe_many(self._end_to_end, seconds)

    def in_flight(self, delta: int) -> None:
        """Adjust the in-flight gauge."""
        self._in_flight.inc(delta)
