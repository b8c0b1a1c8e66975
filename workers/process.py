"""One worker process: load the model, serve until SIGTERM, drain, commit, leave the group."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
from pathlib import Path

import structlog
from prometheus_client import start_http_server

from inferq.logs import configure_logging
from inferq.transport import ensure_topics
from schemas.topics import work_topic
from workers.repository import load_repository
from workers.service import WorkerService
from workers.session import open_model
from workers.settings import WorkerSettings

log = structlog.get_logger(__name__)


async def serve(settings: WorkerSettings) -> None:
    """Run one worker until SIGTERM or SIGINT."""
    version = load_repository(settings.repository).get(settings.model, settings.version)
    model = open_model(version)
    log.info("model_loaded", model=version.name, version=version.version, sha256=version.sha256)
    await ensure_topics(
        settings.kafka,
        {
            work_topic(settings.model, settings.version): settings.work_partitions,
            settings.reply_topic: settings.work_partitions,
            settings.dlq_topic: 1,
        },
    )
    if settings.metrics_port:
        try:
            start_http_server(settings.metrics_port)
        except OSError as exc:
            # A port still held by a draining predecessor must not stop a worker from serving.
            log.warning("metrics_port_unavailable", port=settings.metrics_port, error=str(exc))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client_id = f"inferq-worker-{settings.model}-{settings.version}-{socket.gethostname()}-{os.getpid()}"
    await WorkerService(settings, model, client_id=client_id).run(stop)


def main(argv: list[str] | None = None) -> int:
    """Entry point of a single worker process (the pool runs one per slot)."""
    parser = argparse.ArgumentParser(prog="python -m workers.process")
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    args = parser.parse_args(argv)
    configure_logging()
    settings = WorkerSettings.from_env(repository=args.repository, model=args.model, version=args.version)
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
