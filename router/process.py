"""One router process: follow the route table, route requests until SIGTERM, commit, leave the group."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import structlog
from prometheus_client import start_http_server

from inferq.transport import ensure_topics
from router.routefile import load_routes
from router.service import RouterService
from router.settings import RouterSettings
from router.table import RouteTableFollower
from workers.repository import load_repository

log = structlog.get_logger(__name__)


async def serve(settings: RouterSettings) -> None:
    """Run one router until SIGTERM or SIGINT."""
    seed = load_routes(settings.routes_file) if settings.routes_file else {}
    repository = load_repository(settings.repository) if settings.repository is not None else None

    def default_versions(model: str) -> tuple[str, ...]:
        if repository is None or model not in repository.models():
            return ()
        return repository.versions(model)

    await ensure_topics(
        settings.kafka,
        {settings.requests_topic: settings.work_partitions, settings.reply_topic: settings.work_partitions},
    )
    await ensure_topics(settings.kafka, {settings.dlq_topic: 1})
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client_id = f"inferq-router-{socket.gethostname()}-{os.getpid()}"
    follower = RouteTableFollower(
        settings.kafka.bootstrap, topic=settings.routes_topic, seed=seed, client_id=f"{client_id}-routes"
    )
    await follower.start()
    try:
        await follower.wait_caught_up()
        log.info(
            "route_table_loaded", models=sorted(follower.table.policies), revision=follower.table.revision
        )
        service = RouterService(settings, lambda: follower.table, default_versions, client_id=client_id)
        await service.run(stop)
    finally:
        await follower.stop()
