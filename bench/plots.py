"""PNG plots of a run (matplotlib, Agg): throughput, latency CDF, batch sizes, the sweep."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from bench.figures import SYSTEMS, call_histogram
from bench.harness import WorkloadResult
from bench.sweep import SweepPoint

DPI = 110


def plot_all(out: Path, results: Sequence[WorkloadResult], sweep_points: Sequence[SweepPoint]) -> list[Path]:
    """Write every plot of the run into `out`; returns their paths."""
    paths = [_throughput(out, results), _latency_cdf(out, results), _batch_sizes(out, results)]
    if sweep_points:
        paths.append(_sweep(out, sweep_points))
    return paths


def _throughput(out: Path, results: Sequence[WorkloadResult]) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(SYSTEMS)
    x = np.arange(len(results))
    for i, system in enumerate(SYSTEMS):
        heights = []
        for result in results:
            found = [t for t in result.throughputs if t.system == system]
            heights.append(found[0].rate if found and found[0].complete else 0.0)
        bars = ax.bar(x + (i - (len(SYSTEMS) - 1) / 2) * width, heights, width, label=system)
        ax.bar_label(
            bars, labels=[f"{h:,.0f}" if h else "" for h in heights], fontsize=6, rotation=90, padding=2
        )
    ax.set_xticks(x, [r.workload for r in results])
    ax.set_yscale("log")
    ax.set_ylabel("requests/s (ort-limit: rows/s), log scale")
    ax.set_title("Throughput per system, pre-loaded backlog")
    ax.legend(fontsize=8)
    return _save(fig, out / "throughput.png")


def _latency_cdf(out: Path, results: Sequence[WorkloadResult]) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for result in results:
        if result.latency is None or not result.latency.latencies_ms:
            continue
        values = np.sort(np.asarray(result.latency.latencies_ms))
        share = np.arange(1, len(values) + 1) / len(values)
        offered = result.latency.latency.offered_rate
        ax.plot(values, share, label=f"{result.workload} @ {offered:,.0f}/s")
    ax.set_xscale("log")
    ax.set_xlabel("latency, ms (log scale)")
    ax.set_ylabel("share of requests")
    ax.set_title("Latency CDF at 50% of inferq's saturation (open loop)")
    ax.grid(visible=True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out / "latency_cdf.png")


def _batch_sizes(out: Path, results: Sequence[WorkloadResult]) -> Path:
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.8), squeeze=False)
    for ax, result in zip(axes[0], results, strict=True):
        series = [("saturation", call_histogram(result.saturation_batches))]
        if result.latency is not None:
            series.append(("50% load", call_histogram(r.batch_size for r in result.latency.replies)))
        top = result.config.max_batch_size
        bins = np.linspace(0.5, top + 0.5, min(top, 32) + 1)
        for label, histogram in series:
            sizes = list(histogram)
            ax.hist(sizes, bins=bins, weights=[histogram[s] for s in sizes], alpha=0.6, label=label)
        ax.set_title(f"{result.workload} (max {top})")
        ax.set_xlabel("rows per onnxruntime call")
        ax.set_ylabel("calls")
        ax.legend(fontsize=8)
    fig.suptitle("Batch sizes formed by the worker")
    return _save(fig, out / "batch_sizes.png")


def _sweep(out: Path, points: Sequence[SweepPoint]) -> Path:
    workloads = sorted({p.workload for p in points})
    fig, axes = plt.subplots(2, len(workloads), figsize=(5 * len(workloads), 7), squeeze=False)
    for column, workload in enumerate(workloads):
        mine = [p for p in points if p.workload == workload]
        for delay in sorted({p.max_queue_delay_ms for p in mine}):
            row = sorted((p for p in mine if p.max_queue_delay_ms == delay), key=lambda p: p.max_batch_size)
            batches = [p.max_batch_size for p in row]
            label = f"delay {delay:g} ms"
            axes[0][column].plot(batches, [p.throughput or np.nan for p in row], marker="o", label=label)
            axes[1][column].plot(batches, [p.p99_ms or np.nan for p in row], marker="o", label=label)
        offered = mine[0].offered_rate if mine else 0.0
        axes[0][column].set_title(f"{workload}: backlog throughput")
        axes[0][column].set_ylabel("requests/s")
        axes[1][column].set_title(f"{workload}: p99 at {offered:,.0f} req/s offered")
        axes[1][column].set_ylabel("p99 latency, ms (log)")
        axes[1][column].set_yscale("log")
        ticks = sorted({p.max_batch_size for p in mine})
        for ax in (axes[0][column], axes[1][column]):
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.set_xlabel("max_batch_size")
            ax.grid(visible=True, alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("Sweep: max batch size x max queue delay")
    return _save(fig, out / "sweep.png")


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
