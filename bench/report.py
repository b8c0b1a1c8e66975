"""The run's outputs: the printed table, report.json and the machine it ran on."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.figures import (
    RATIOS,
    SYSTEMS,
    Latency,
    Rates,
    Throughput,
    Verdict,
    batch_stats,
    call_histogram,
    ratio_name,
    ratio_value,
)
from bench.harness import WorkloadResult
from bench.settings import BenchSettings
from bench.sweep import SweepPoint

DEFINITIONS = {
    "throughput": (
        "distinct requests answered with a success reply within [t0, t_end] / (t_end - t0), for a "
        "backlog pre-loaded before the system starts; t0 = first moment the system's consumer group is "
        "seen Stable with partitions assigned (described every 20 ms; process start, model load and group "
        "join excluded); t_end = CreateTime of the last reply (when the system handed it to its producer); "
        "replies already written at t0 ('early', normally 0) count as answered but not in the rate"
    ),
    "ort-limit": (
        "rows/s of onnxruntime alone on pre-built batches of max_batch_size, the worker's session options"
    ),
    "latency": (
        "open loop at `load` x inferq's measured saturation: reply receipt by the harness - time the "
        "request was handed to the harness's producer; requests of the first warmup_s are not measured"
    ),
    "batches": (
        "onnxruntime calls by size, from the replies' inferq-batch-size headers "
        "(b replies of size b = 1 call)"
    ),
    "p99 bound": "max_queue_delay_ms + 2 x max_batch_size / ort-limit rows/s + 20 ms (BENCH.md)",
}
VERSIONED = ("aiokafka", "faststream", "onnxruntime", "numpy", "orjson", "matplotlib")
SERVED_CODE = ("inferq", "schemas", "router", "workers")
"""The packages whose code the measured systems run."""
POM = Path(__file__).resolve().parents[1] / "compose" / "kafka-local" / "pom.xml"


def machine(bootstrap: str, *, external: bool, load_at_start: tuple[float, float, float]) -> dict[str, Any]:
    """Cores, CPU model, load and versions: what a reader needs to judge the figures."""
    versions = {name: _version(name) for name in VERSIONED}
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        **versions,
        "kafka": _kafka_version(),
        "code": _code_version(),
        "broker": {"bootstrap": bootstrap, "started_by_harness": not external},
        "load_average_start": load_at_start,
        "load_average_end": os.getloadavg(),
    }


def rates_of(results: Sequence[WorkloadResult]) -> Rates:
    """(workload, system) -> throughput over every workload."""
    return {(t.workload, t.system): t for r in results for t in r.throughputs}


def report_json(
    settings: BenchSettings,
    *,
    started: str,
    machine_info: Mapping[str, Any],
    results: Sequence[WorkloadResult],
    p99_bounds: Mapping[str, float],
    verdict_list: Sequence[Verdict],
    sweep_points: Sequence[SweepPoint],
) -> dict[str, Any]:
    """Every figure of the run as plain JSON values."""
    rates = rates_of(results)
    workloads: dict[str, Any] = {}
    for result in results:
        latency = result.latency.latency if result.latency else None
        workloads[result.workload] = {
            "config": asdict(result.config),
            "throughput": {t.system: _throughput_json(t) for t in result.throughputs},
            "ratios": {
                f"{r.numerator} / {r.denominator}": ratio_value(r, rates)
                for r in RATIOS
                if r.workload == result.workload
            },
            "latency": _latency_json(latency) if latency else None,
            "harness_cpu_during_latency_run": result.latency.harness_cpu if result.latency else None,
            "p99_bound_ms": p99_bounds.get(result.workload),
            "batches_at_saturation": batch_stats(result.saturation_batches).to_json(),
            "calls_by_size_at_saturation": call_histogram(result.saturation_batches),
            "calls_by_size_at_load": call_histogram(r.batch_size for r in result.latency.replies)
            if result.latency
            else {},
        }
    return {
        "started": started,
        "mode": "quick" if settings.quick else "full",
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "machine": dict(machine_info),
        "definitions": DEFINITIONS,
        "workloads": workloads,
        "targets": [
            {"figure": v.figure, "value": v.value, "target": v.target, "verdict": v.label}
            for v in verdict_list
        ],
        "sweep": [p.to_json() for p in sweep_points],
    }


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """report.json, indented; NaN (no measurement) is written as null."""
    path.write_text(json.dumps(_no_nan(document), indent=2, sort_keys=False) + "\n")


QUICK_CAVEAT = (
    "quick mode: backlogs of a few thousand requests drain in well under a second, so start-up "
    "(first offsets, first fetches, cold code paths) weighs on every figure; use `make bench` for numbers"
)


def table(
    results: Sequence[WorkloadResult],
    p99_bounds: Mapping[str, float],
    verdict_list: Sequence[Verdict],
    *,
    caveat: str | None = None,
) -> str:
    """The human-readable summary printed at the end of a run."""
    rates = rates_of(results)
    lines = ["", f"!!! {caveat}"] if caveat else []
    lines += ["", "Throughput (req/s; ort-limit in rows/s)", _row("workload", *SYSTEMS)]
    for result in results:
        cells = []
        for system in SYSTEMS:
            t = rates.get((result.workload, system))
            cells.append("-" if t is None else f"{t.rate:,.0f}" + ("" if t.complete else " INCOMPLETE"))
        lines.append(_row(result.workload, *cells))
    lines += ["", "Ratios"]
    lines += [f"  {ratio_name(r):<44} {_fmt(ratio_value(r, rates), '.2f')}" for r in RATIOS]
    lines += [
        "",
        "Latency at 50% of inferq's saturation (open loop), and onnxruntime batch sizes (calls)",
        _row(
            "workload",
            "offered/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "p99 bound",
            "batch@50%",
            "batch@sat",
        ),
    ]
    for result in results:
        sat = batch_stats(result.saturation_batches)
        if result.latency is None:
            lines.append(
                _row(result.workload, "-", "-", "-", "-", "-", "-", "-", _batch(sat.mean, sat.p50, sat.max))
            )
            continue
        lat: Latency = result.latency.latency
        lines.append(
            _row(
                result.workload,
                f"{lat.offered_rate:,.0f}",
                f"{lat.p50_ms:.1f}",
                f"{lat.p95_ms:.1f}",
                f"{lat.p99_ms:.1f}",
                f"{lat.max_ms:.1f}",
                _fmt(p99_bounds.get(result.workload), ".1f"),
                _batch(lat.batches.mean, lat.batches.p50, lat.batches.max),
                _batch(sat.mean, sat.p50, sat.max),
            )
        )
    lines += ["  (batch: mean/p50/max rows per onnxruntime call)", "", "Targets (BENCH.md)"]
    lines += [f"  {v.figure:<44} {_fmt(v.value, '.2f'):>10}  {v.target:<16} {v.label}" for v in verdict_list]
    return "\n".join(lines) + "\n"


def _row(first: str, *cells: str) -> str:
    return f"  {first:<10}" + "".join(f"{c:>22}" for c in cells)


def _batch(mean: float, p50: float, top: int) -> str:
    return f"{mean:.1f}/{p50:.0f}/{top}"


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _throughput_json(t: Throughput) -> dict[str, Any]:
    return {
        "rate": t.rate,
        "answered": t.answered,
        "expected": t.expected,
        "errors": t.errors,
        "duplicates": t.duplicates,
        "seconds": t.seconds,
        "early": t.early,
        "complete": t.complete,
    }


def _latency_json(latency: Latency) -> dict[str, Any]:
    document = asdict(latency)
    document["batches"] = latency.batches.to_json()
    return document


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(v) for v in value]
    return value


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _code_version() -> dict[str, Any]:
    """The commit under test, and whether the served code differs from it."""
    root = POM.parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", *SERVED_CODE],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "uncommitted_changes": None}
    return {"commit": commit, "uncommitted_changes": [line[3:] for line in changed if line.strip()]}


def _kafka_version() -> str:
    """The Kafka version of compose/kafka-local's pom (the broker the project runs)."""
    try:
        text = POM.read_text()
    except OSError:
        return "unknown"
    start = text.find("<kafka.version>")
    end = text.find("</kafka.version>")
    return text[start + len("<kafka.version>") : end] if 0 <= start < end else "unknown"
