"""`python -m bench [--quick]`: every workload and system on one broker, the table, report.json, plots.

Kafka: the cluster in KAFKA_BOOTSTRAP_SERVERS if set (the harness's topics are
deleted afterwards), else a single-node broker started for the run from
compose/kafka-local and stopped at the end. No process outlives the run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.figures import ORT_LIMIT, p99_bound_ms, verdicts
from bench.harness import Scope, WorkloadResult, run_all
from bench.kafka_io import delete_topics
from bench.plots import plot_all
from bench.procs import REPO_ROOT, install_cleanup
from bench.progress import note
from bench.report import QUICK_CAVEAT, machine, rates_of, report_json, table, write_json
from bench.settings import BenchSettings
from bench.sweep import SweepPoint, sweep
from bench.workloads import BY_NAME, WORKLOADS, by_names
from inferq.logs import configure_logging

sys.path.insert(0, str(REPO_ROOT / "compose" / "kafka-local"))

# Importable only once its folder is on sys.path (above).
from kafkalocal import LocalKafka

ENV = "KAFKA_BOOTSTRAP_SERVERS"


@dataclass(frozen=True, slots=True)
class Broker:
    """The cluster a run uses, and whether the harness started it."""

    bootstrap: str
    external: bool


@contextmanager
def broker(state_dir: Path) -> Iterator[Broker]:
    """KAFKA_BOOTSTRAP_SERVERS's cluster, or a single-node broker that lives for the block."""
    external = os.environ.get(ENV)
    if external:
        yield Broker(external, external=True)
        return
    note("-- starting a single-node Kafka broker (compose/kafka-local)")
    cluster = LocalKafka(state_dir)
    bootstrap = cluster.up(nodes=1)
    os.environ[ENV] = bootstrap
    try:
        yield Broker(bootstrap, external=False)
    finally:
        os.environ.pop(ENV, None)
        cluster.down()


async def measure(
    settings: BenchSettings, scope: Scope, cluster: Broker
) -> tuple[list[WorkloadResult], list[SweepPoint]]:
    """Run every workload, then the sweep; deletes the run's topics from a shared cluster."""
    results: list[WorkloadResult] = []
    points: list[SweepPoint] = []
    try:
        results = await run_all(settings, scope, by_names(settings.workloads))
        if settings.sweep:
            for name in settings.sweep_workloads:
                found = [r for r in results if r.workload == name]
                rate = found[0].rate("inferq") if found else None
                if rate is None:
                    note(f"!!! sweep of {name} skipped: no complete inferq run to set its offered rate")
                    continue
                note(f"== sweep {name}")
                points += await sweep(settings, scope, BY_NAME[name], settings.load * rate)
    finally:
        if cluster.external:
            await delete_topics(cluster.bootstrap, scope.created)
    return results, points


def p99_bounds(results: list[WorkloadResult]) -> dict[str, float]:
    """BENCH.md's p99 bar per workload, from its config and its ort-limit."""
    bounds = {}
    for result in results:
        ort = result.rate(ORT_LIMIT)
        if ort is not None:
            bounds[result.workload] = p99_bound_ms(
                result.config.max_queue_delay_ms, result.config.max_batch_size, ort
            )
    return bounds


def run(settings: BenchSettings) -> Path:
    """One bench run; returns its results directory."""
    started = datetime.now(UTC)
    out = settings.results / started.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="inferq-bench-") as tmp, broker(Path(tmp) / "kafka") as cluster:
        repository = Path(tmp) / "repository"
        repository.mkdir()
        scope = Scope(cluster.bootstrap, uuid.uuid4().hex[:8], repository, out / "logs")
        results, points = asyncio.run(measure(settings, scope, cluster))
        machine_info = machine(cluster.bootstrap, external=cluster.external, load_at_start=load_at_start)
    bounds = p99_bounds(results)
    latencies = {r.workload: r.latency.latency for r in results if r.latency is not None}
    verdict_list = verdicts(rates_of(results), latencies, bounds)
    sys.stdout.write(table(results, bounds, verdict_list, caveat=QUICK_CAVEAT if settings.quick else None))
    document = report_json(
        settings,
        started=started.isoformat(),
        machine_info=machine_info,
        results=results,
        p99_bounds=bounds,
        verdict_list=verdict_list,
        sweep_points=points,
    )
    write_json(out / "report.json", document)
    plots = plot_all(out, results, points)
    sys.stdout.write(f"\nreport: {out / 'report.json'}\nplots: {', '.join(p.name for p in plots)}\n")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench`."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="small backlogs, short runs, no sweep (< 1 min)")
    parser.add_argument(
        "--n", type=int, default=None, help="requests per backlog (default 20000; quick 1500)"
    )
    parser.add_argument(
        "--workloads", default=",".join(w.name for w in WORKLOADS), help="comma-separated (default: all)"
    )
    parser.add_argument("--no-sweep", action="store_true", help="skip the batch x delay sweep (full mode)")
    args = parser.parse_args(argv)
    names = tuple(n.strip() for n in args.workloads.split(",") if n.strip())
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown workloads {unknown}; known: {sorted(BY_NAME)}")
    settings = (
        BenchSettings.quick_run(names, n=args.n)
        if args.quick
        else BenchSettings.full(names, n=args.n, sweep=not args.no_sweep)
    )
    install_cleanup()
    # The harness opens models and repositories itself: keep their info logs out of the table.
    configure_logging(level=logging.WARNING)
    # aiokafka retries NotLeaderForPartition on fresh topics by itself; its warnings would bury the bars.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    run(settings)
    return 0
