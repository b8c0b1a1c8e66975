"""Prometheus metrics of a worker process, labelled by model and version."""

from __future__ import annotations

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

    def queued(self, seconds: float) -> None:
        """Record a request's time from fetch to model call."""
        self._queue.observe(seconds)

    def end_to_end(self, seconds: float) -> None:
        """Record a request's end-to-end latency."""
        self._end_to_end.observe(seconds)

    def in_flight(self, delta: int) -> None:
        """Adjust the in-flight gauge."""
        self._in_flight.inc(delta)
