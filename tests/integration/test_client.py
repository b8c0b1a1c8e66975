"""The client SDK and `inferq infer` against a real worker and the real broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import pytest

from inferq.client import InferenceError, InferqClient, ReplyTimeout
from inferq.sync_client import SyncClient
from inferq.transport import KafkaSettings, ensure_topics
from schemas.errors import ErrorCode
from schemas.topics import work_topic
from tests.integration.support import REPO_ROOT, alias_repository, ensure_models, inferq_process, unique

pytestmark = [pytest.mark.integration]


@dataclass
class Tabular:
    bootstrap: str
    model: str
    topic: str
    session: ort.InferenceSession


@pytest.fixture(scope="module")
def tabular(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tabular]:
    tmp = tmp_path_factory.mktemp("client")
    models = ensure_models()
    repo, model = alias_repository(tmp, models, "tabular", ["1"])
    topic = work_topic(model, "1")
    asyncio.run(ensure_topics(KafkaSettings(kafka_bootstrap), {topic: 2}))
    env = {"INFERQ_REPLY_ALLOW_LIST": "replies.*", "INFERQ_REPLY_TOPIC": unique("replies")}
    args = ["worker", "--repository", str(repo), "--model", model, "--version", "1"]
    with inferq_process(args, env, tmp / "worker.log"):
        session = ort.InferenceSession(str(models / "tabular" / "1" / "model.onnx"))
        yield Tabular(kafka_bootstrap, model, topic, session)


def client(t: Tabular) -> InferqClient:
    return InferqClient(KafkaSettings(t.bootstrap), reply_topic=unique("replies"))


async def test_infer_returns_the_models_prediction(tabular: Tabular) -> None:
    row = np.random.default_rng(5).standard_normal((1, 32)).astype(np.float32)
    async with client(tabular) as c:
        reply = await c.infer(tabular.model, {"features": row}, topic=tabular.topic)
    expected = tabular.session.run(["probabilities"], {"features": row})[0]
    (output,) = reply.response.outputs
    np.testing.assert_allclose(output.data, expected, rtol=1e-6)
    assert reply.model_version == "1"


async def test_many_requests_in_flight_each_get_their_own_reply(tabular: Tabular) -> None:
    rows = np.random.default_rng(6).standard_normal((300, 32)).astype(np.float32)
    async with client(tabular) as c:
        ids = [await c.submit(tabular.model, {"features": row[None, :]}, topic=tabular.topic) for row in rows]
        replies = await asyncio.gather(*(c.result(i) for i in ids))
    expected = tabular.session.run(["probabilities"], {"features": rows})[0]
    got = np.concatenate([r.response.outputs[0].data for r in replies])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


async def test_error_reply_raises_a_typed_exception(tabular: Tabular) -> None:
    async with client(tabular) as c:
        with pytest.raises(InferenceError) as caught:
            await c.infer(
                tabular.model, {"features": np.zeros((1, 31), dtype=np.float32)}, topic=tabular.topic
            )
    assert caught.value.code is ErrorCode.SHAPE_MISMATCH


async def test_no_reply_raises_reply_timeout(tabular: Tabular) -> None:
    nobody = unique("nobody-listens")
    async with client(tabular) as c:
        with pytest.raises(ReplyTimeout):
            await c.infer(
                tabular.model, {"features": np.zeros((1, 32), dtype=np.float32)}, topic=nobody, timeout_s=1
            )


def test_sync_client_blocks_until_the_reply(tabular: Tabular) -> None:
    with SyncClient(KafkaSettings(tabular.bootstrap), reply_topic=unique("replies")) as c:
        reply = c.infer(tabular.model, {"features": np.ones((1, 32), dtype=np.float32)}, topic=tabular.topic)
    assert reply.response.outputs[0].shape == (1, 2)


def test_cli_infer_prints_the_reply(tabular: Tabular, tmp_path: Path) -> None:
    features = orjson.dumps([0.5] * 32).decode()
    argv = [
        sys.executable,
        "-m",
        "inferq.cli",
        "infer",
        "--model",
        tabular.model,
        "--version",
        "1",
        "--direct",
    ]
    argv += ["--input", f"features={features}", "--reply-topic", unique("replies")]
    done = subprocess.run(argv, capture_output=True, check=False, cwd=REPO_ROOT, env=os.environ, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    printed = orjson.loads(done.stdout)
    expected = tabular.session.run(["probabilities"], {"features": np.full((1, 32), 0.5, np.float32)})[0]
    np.testing.assert_allclose(printed["outputs"][0]["data"], expected.ravel(), rtol=1e-6)
