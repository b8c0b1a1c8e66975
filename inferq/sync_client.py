"""A thin blocking wrapper around `InferqClient`, for scripts and notebooks.

    with SyncClient.from_env() as client:
        reply = client.infer("intent", {"text": ["my card was charged twice"]})

It runs the async client on a private event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from inferq.client import InferqClient, Reply
from inferq.transport import KafkaSettings
from schemas.messages import InferenceRequest

T = TypeVar("T")


class SyncClient:
    """Blocking request/reply; same arguments and errors as `InferqClient`."""

    def __init__(self, settings: KafkaSettings, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="inferq-sync-client", daemon=True)
        self._thread.start()
        self._client = self._run(_started_client(settings, kwargs))

    @classmethod
    def from_env(cls, **kwargs: Any) -> SyncClient:
        """A client for the cluster named by `KAFKA_BOOTSTRAP_SERVERS`."""
        return cls(KafkaSettings.from_env(), **kwargs)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def infer(self, model: str, inputs: Mapping[str, Any] | InferenceRequest, **kwargs: Any) -> Reply:
        """Send one request and block until its reply; raises InferenceError or ReplyTimeout."""
        return self._run(self._client.infer(model, inputs, **kwargs))

    def close(self) -> None:
        """Disconnect and stop the background loop; idempotent."""
        if self._loop.is_closed():
            return
        self._run(self._client.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()


async def _started_client(settings: KafkaSettings, kwargs: Mapping[str, Any]) -> InferqClient:
    # aiokafka binds its clients to the running loop, so the client is built inside it.
    client = InferqClient(settings, **kwargs)
    await client.start()
    return client
