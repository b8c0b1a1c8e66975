"""The inferq client SDK: publish inference requests to Kafka and await their replies.

Request/reply over Kafka, built here: each request carries a fresh
`correlation-id` and a `reply-to` topic; the client reads every partition of
that reply topic (no consumer group: each client sees all replies and keeps
its own), resolving the waiting future whose correlation id matches.

    async with InferqClient.from_env() as client:
        reply = await client.infer("intent", {"text": np.array([b"my card was charged twice"])})
        print(reply.outputs[0].data)

Error replies raise `InferenceError` with the reply's typed `code`; no reply
within the timeout raises `ReplyTimeout`. Many requests may be in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import numpy as np
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from inferq.transport import KafkaSettings, ensure_topics, partitions_of
from schemas import headers as h
from schemas.codec import decode_reply, encode_request
from schemas.errors import ErrorCode
from schemas.messages import ErrorReply, InferenceRequest, InferenceResponse
from schemas.tensors import Tensor, datatype_of
from schemas.topics import REPLIES, REQUESTS

log = structlog.get_logger(__name__)


class ClientError(Exception):
    """Root of the client's errors."""

    retriable = False


class InferenceError(ClientError):
    """The service answered with a typed error reply."""

    def __init__(self, reply: ErrorReply, correlation_id: str) -> None:
        super().__init__(f"{reply.code}: {reply.error}")
        self.code: ErrorCode = reply.code
        self.reply = reply
        self.correlation_id = correlation_id


class ReplyTimeout(ClientError):  # noqa: N818 - reads as what happened, like asyncio's TimeoutError
    """No reply arrived in time; the request may still be answered later (and then ignored)."""

    retriable = True

    def __init__(self, correlation_id: str, timeout_s: float) -> None:
        super().__init__(f"no reply to {correlation_id} within {timeout_s:.1f}s")
        self.correlation_id = correlation_id


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful reply with the headers that say who answered it."""

    response: InferenceResponse
    model_version: str
    headers: Mapping[str, bytes]


def tensors_from(inputs: Mapping[str, Any]) -> tuple[Tensor, ...]:
    """Inputs given as name -> array-like, as Tensors (strings become BYTES)."""
    out = []
    for name, value in inputs.items():
        array = np.asarray(value)
        if array.dtype.kind in "US":
            array = np.array([v.encode() if isinstance(v, str) else v for v in array.ravel()], dtype=object)
            array = array.reshape(np.asarray(value).shape)
        out.append(Tensor(name=name, datatype=datatype_of(array), shape=tuple(array.shape), data=array))
    return tuple(out)


class InferqClient:
    """An async request/reply client; use as an async context manager or call start()/stop()."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        request_topic: str = REQUESTS,
        reply_topic: str = REPLIES,
        timeout_s: float = 30.0,
    ) -> None:
        self._settings = settings
        self._request_topic = request_topic
        self._reply_topic = reply_topic
        self._timeout_s = timeout_s
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap, acks="all", enable_idempotence=True, linger_ms=1
        )
        # read_committed: replies of an exactly-once worker count only once their transaction commits.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap, enable_auto_commit=False, isolation_level="read_committed"
        )
        self._waiting: dict[str, asyncio.Future[tuple[bytes, dict[str, bytes]]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._started = False

    @classmethod
    def from_env(cls, **kwargs: Any) -> InferqClient:
        """A client for the cluster named by `KAFKA_BOOTSTRAP_SERVERS`."""
        return cls(KafkaSettings.from_env(), **kwargs)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect, and start reading the reply topic from its current end."""
        if self._started:
            return
        await ensure_topics(self._settings, {self._reply_topic: 8, self._request_topic: 8})
        await self._producer.start()
        await self._consumer.start()
        partitions = [
            TopicPartition(self._reply_topic, p)
            for p in await partitions_of(self._settings, self._reply_topic)
        ]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            # Resolve the end positions now, so no reply produced after start() is skipped.
            await self._consumer.position(tp)
        self._reader = asyncio.create_task(self._read_replies(), name="inferq-client-replies")
        self._started = True

    async def stop(self) -> None:
        """Fail pending requests and disconnect; idempotent."""
        if not self._started:
            return
        self._started = False
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        await self._consumer.stop()
        await self._producer.stop()

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, Any] | InferenceRequest,
        *,
        version: str | None = None,
        key: bytes | None = None,
        timeout_s: float | None = None,
        deadline_ms: int | None = None,
        binary: bool = False,
        topic: str | None = None,
    ) -> Reply:
        """Send one request and wait for its reply; raises InferenceError or ReplyTimeout."""
        pending = await self.submit(
            model,
            inputs,
            version=version,
            key=key,
            deadline_ms=deadline_ms,
            binary=binary,
            topic=topic,
        )
        return await self.result(pending, timeout_s=timeout_s)

    async def submit(
        self,
        model: str,
        inputs: Mapping[str, Any] | InferenceRequest,
        *,
        version: str | None = None,
        key: bytes | None = None,
        deadline_ms: int | None = None,
        binary: bool = False,
        topic: str | None = None,
    ) -> str:
        """Publish a request without waiting; returns its correlation id for `result()`."""
        correlation_id = uuid.uuid4().hex
        if isinstance(inputs, InferenceRequest):
            request = inputs
        else:
            request = InferenceRequest(id=correlation_id, inputs=tensors_from(inputs))
        encoded = encode_request(request, binary=binary)
        headers: list[tuple[str, bytes]] = [
            (h.MODEL, model.encode()),
            (h.REPLY_TO, self._reply_topic.encode()),
            (h.CORRELATION_ID, correlation_id.encode()),
            (h.CONTENT_TYPE, encoded.content_type.encode()),
        ]
        if version is not None:
            headers.append((h.MODEL_VERSION, version.encode()))
        if deadline_ms is not None:
            headers.append((h.DEADLINE, str(deadline_ms).encode()))
        if encoded.header_length is not None:
            headers.append((h.HEADER_LENGTH, str(encoded.header_length).encode()))
        self._waiting[correlation_id] = asyncio.get_running_loop().create_future()
        await self._producer.send_and_wait(
            topic or self._request_topic, encoded.body, key=key, headers=headers
        )
        return correlation_id

    async def submit_raw(
        self,
        model: str,
        body: bytes,
        *,
        headers: Sequence[tuple[str, bytes]] = (),
        key: bytes | None = None,
        topic: str | None = None,
    ) -> str:
        """Publish a body as it is (no encoding, no checks): how a misbehaving producer is simulated."""
        correlation_id = uuid.uuid4().hex
        all_headers = [
            (h.MODEL, model.encode()),
            (h.REPLY_TO, self._reply_topic.encode()),
            (h.CORRELATION_ID, correlation_id.encode()),
            *headers,
        ]
        self._waiting[correlation_id] = asyncio.get_running_loop().create_future()
        await self._producer.send_and_wait(topic or self._request_topic, body, key=key, headers=all_headers)
        return correlation_id

    async def result(self, correlation_id: str, *, timeout_s: float | None = None) -> Reply:
        """Wait for the reply to a submitted request."""
        future = self._waiting[correlation_id]
        wait = self._timeout_s if timeout_s is None else timeout_s
        try:
            body, headers = await asyncio.wait_for(future, wait)
        except TimeoutError:
            raise ReplyTimeout(correlation_id, wait) from None
        finally:
            self._waiting.pop(correlation_id, None)
        reply = decode_reply(
            body,
            content_type=_text(headers.get(h.CONTENT_TYPE)),
            header_length=int(headers[h.HEADER_LENGTH]) if h.HEADER_LENGTH in headers else None,
        )
        if isinstance(reply, ErrorReply):
            raise InferenceError(reply, correlation_id)
        return Reply(reply, _text(headers.get(h.MODEL_VERSION)) or reply.model_version, headers)

    async def _read_replies(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for m in messages:
                    headers = dict(m.headers)
                    cid = _text(headers.get(h.CORRELATION_ID))
                    future = self._waiting.get(cid or "")
                    if future is not None and not future.done():
                        future.set_result((m.value, headers))


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", "replace") if value is not None else None
