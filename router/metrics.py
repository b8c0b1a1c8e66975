"""Prometheus metrics of a router process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ROUTED = Counter(
    "inferq_router_routed", "Requests forwarded, by model and chosen version", ["model", "version"]
)
SHADOWED = Counter(
    "inferq_router_shadowed", "Shadow copies sent, by model and shadow version", ["model", "version"]
)
ERRORS = Counter("inferq_router_errors", "Requests refused by the router, by error code", ["code"])
REVISION = Gauge("inferq_router_route_table_revision", "Revision of the route table in use")


class RouterMetrics:
    """Counts per routing outcome; label children are cached, the hot path does one dict lookup."""

    def __init__(self) -> None:
        self._routed: dict[tuple[str, str], Counter] = {}

    def routed(self, model: str, version: str, shadows: tuple[str, ...]) -> None:
        """Count a forwarded request and its shadow copies."""
        child = self._routed.get((model, version))
        if child is None:
            child = self._routed[(model, version)] = ROUTED.labels(model, version)
        child.inc()
        for shadow in shadows:
            SHADOWED.labels(model, shadow).inc()

    def error(self, code: str) -> None:
        """Count a refusal."""
        ERRORS.labels(code).inc()

    def table_revision(self, revision: int) -> None:
        """Export the route table revision in use."""
        REVISION.set(revision)
