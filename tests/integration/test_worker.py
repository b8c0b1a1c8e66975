"""The worker against the real broker: replies, batching, errors, DLQ, deadlines."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import orjson
import pytest
from onnx import TensorProto, helper

from inferq.transport import KafkaSettings, ensure_topics
from schemas.topics import work_topic
from tests.integration.support import (
    alias_repository,
    collect,
    end_offsets,
    ensure_models,
    inferq_process,
    oip_body,
    produce,
    request_headers,
    tabular_rows,
    unique,
)

pytestmark = [pytest.mark.integration]


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
    return text


def worker_env(reply: str, dlq: str, **extra: str) -> dict[str, str]:
    return {"INFERQ_REPLY_TOPIC": reply, "INFERQ_DLQ_TOPIC": dlq, "INFERQ_WORK_PARTITIONS": "4", **extra}


async def test_backlog_of_5000_gets_exactly_5000_correct_replies(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    models = ensure_models()
    repo, model = alias_repository(tmp_path, models, "tabular", ["1"])
    topic, reply, dlq = work_topic(model, "1"), unique("replies"), unique("dlq")
    await ensure_topics(KafkaSettings(kafka_bootstrap), {topic: 4, reply: 4})
    rows = tabular_rows(5000)
    ids = [f"r{i}" for i in range(len(rows))]
    await produce(
        kafka_bootstrap,
        topic,
        [
            (
                str(i % 97).encode(),
                oip_body(cid, "features", "FP32", [1, 32], row.tolist()),
                request_headers(cid, reply),
            )
            for i, (cid, row) in enumerate(zip(ids, rows, strict=True))
        ],
    )
    args = ["worker", "--repository", str(repo), "--model", model, "--version", "1"]
    with inferq_process(args, worker_env(reply, dlq), tmp_path / "worker.log") as proc:
        replies = await collect(kafka_bootstrap, reply, set(ids), timeout_s=120)
        assert proc.popen.poll() is None, proc.log()

    assert replies.total() == 5000
    assert set(replies.by_id) == set(ids)
    session = ort.InferenceSession(str(models / "tabular" / "1" / "model.onnx"))
    expected = session.run(["probabilities"], {"features": rows})[0]
    got = np.array(
        [replies.body(cid)["outputs"][0]["data"] for cid in ids],  # type: ignore[index]
        dtype=np.float32,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    first = replies.headers(ids[0])
    assert first["status"] == b"ok"
    assert first["model-version"] == b"1"
    sizes = [int(replies.headers(cid)["inferq-batch-size"]) for cid in ids]
    assert np.mean(sizes) > 1, "a pre-loaded backlog must be answered in batches"


def failing_model(path: Path) -> None:
    """A model that fails at run time for an index >= 4: the way to make onnxruntime fail on one row."""
    data = helper.make_tensor("table", TensorProto.FLOAT, [4], [0.0, 1.0, 2.0, 3.0])
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "index"], ["value"], axis=0)],
        "failing",
        [helper.make_tensor_value_info("index", TensorProto.INT64, ["batch", 1])],
        [helper.make_tensor_value_info("value", TensorProto.FLOAT, ["batch", 1])],
        initializer=[data],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True)
    onnx.save(model, str(path))


async def test_bad_requests_get_typed_errors_and_dlq_records_and_good_ones_flow(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    model = f"gather_{unique('m').split('.')[1]}"
    failing_model(tmp_path / model / "1" / "model.onnx")
    (tmp_path / model / "config.toml").write_text("max_batch_size = 16\nmax_queue_delay_ms = 20\n")
    topic, reply, dlq = work_topic(model, "1"), unique("replies"), unique("dlq")
    await ensure_topics(KafkaSettings(kafka_bootstrap), {topic: 1, reply: 1})

    def ok(cid: str, index: int) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
        return None, oip_body(cid, "index", "INT64", [1, 1], [[index]]), request_headers(cid, reply)

    bad: dict[str, tuple[bytes, list[tuple[str, bytes]], str]] = {
        "json": (b"{not json", request_headers("json", reply), "INVALID_JSON"),
        "struct": (b"[1, 2]", request_headers("struct", reply), "INVALID_REQUEST"),
        "dtype": (
            oip_body("dtype", "index", "FP32", [1, 1], [[1.0]]),
            request_headers("dtype", reply),
            "INVALID_DATATYPE",
        ),
        "shape": (
            oip_body("shape", "index", "INT64", [1, 2], [[1, 2]]),
            request_headers("shape", reply),
            "SHAPE_MISMATCH",
        ),
        "count": (
            oip_body("count", "index", "INT64", [1, 1], [1, 2]),
            request_headers("count", reply),
            "SHAPE_MISMATCH",
        ),
        "input": (
            oip_body("input", "other", "INT64", [1, 1], [[1]]),
            request_headers("input", reply),
            "UNKNOWN_INPUT",
        ),
        "range": (
            oip_body("range", "index", "INT64", [1, 1], [["x"]]),
            request_headers("range", reply),
            "VALUE_OUT_OF_RANGE",
        ),
        "header": (
            oip_body("header", "index", "INT64", [1, 1], [[1]]),
            [*request_headers("header", reply), ("deadline", b"\xff\xfe")],
            "INVALID_HEADER",
        ),
        "late": (
            oip_body("late", "index", "INT64", [1, 1], [[1]]),
            request_headers("late", reply, deadline="1000"),
            "DEADLINE_EXCEEDED",
        ),
        "big": (
            oip_body("big", "index", "INT64", [1, 1], [[1]]) + b" " * 5000,
            request_headers("big", reply),
            "PAYLOAD_TOO_LARGE",
        ),
        "fails": (
            oip_body("fails", "index", "INT64", [1, 1], [[7]]),
            request_headers("fails", reply),
            "INFERENCE_FAILED",
        ),
    }
    records = [ok(f"ok{i}", i % 4) for i in range(10)]
    records += [(None, body, headers) for body, headers, _ in bad.values()]
    records += [ok(f"ok{i}", i % 4) for i in range(10, 20)]
    await produce(kafka_bootstrap, topic, records)
    args = ["worker", "--repository", str(tmp_path), "--model", model, "--version", "1"]
    env = worker_env(reply, dlq, INFERQ_MAX_PAYLOAD_BYTES="4096")
    good = {f"ok{i}" for i in range(20)}
    with inferq_process(args, env, tmp_path / "worker.log") as proc:
        replies = await collect(kafka_bootstrap, reply, good | set(bad) - {"header"}, timeout_s=60)
        dead = await collect(kafka_bootstrap, dlq, set(bad) - {"header"}, timeout_s=30)
        log = proc.log()

    for i in range(20):
        body = replies.body(f"ok{i}")
        assert body["outputs"][0]["data"] == [float(i % 4)], body  # type: ignore[index]
    for cid, (_, _, code) in bad.items():
        if cid == "header":
            continue  # its correlation id header is unreadable only by design of the test below
        assert replies.headers(cid)["status"] == b"error", cid
        body = replies.body(cid)
        assert body["parameters"] == {"code": code}, (cid, body, log[-2000:])
        assert dead.headers(cid)["inferq-error-code"] == code.encode()
        assert dead.headers(cid)["inferq-origin-topic"] == topic.encode()
    # A request whose headers cannot be read is still answered and dead-lettered, without its id.
    unreadable = [
        h for h, _ in replies.by_id.get("", []) if dict(h).get("inferq-error-code") == b"INVALID_HEADER"
    ]
    assert len(unreadable) == 1
    assert replies.duplicates() == 0


async def test_forbidden_reply_topic_is_refused_on_the_default_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    models = ensure_models()
    repo, model = alias_repository(tmp_path, models, "tabular", ["1"])
    topic, reply, dlq, forbidden = (
        work_topic(model, "1"),
        unique("replies"),
        unique("dlq"),
        unique("elsewhere"),
    )
    await ensure_topics(KafkaSettings(kafka_bootstrap), {topic: 1, reply: 1})
    row = tabular_rows(1)[0].tolist()
    await produce(
        kafka_bootstrap,
        topic,
        [
            (None, oip_body("evil", "features", "FP32", [1, 32], row), request_headers("evil", forbidden)),
            (None, oip_body("fine", "features", "FP32", [1, 32], row), request_headers("fine", reply)),
        ],
    )
    args = ["worker", "--repository", str(repo), "--model", model, "--version", "1"]
    with inferq_process(args, worker_env(reply, dlq), tmp_path / "worker.log"):
        replies = await collect(kafka_bootstrap, reply, {"evil", "fine"}, timeout_s=60)
    assert replies.body("evil")["parameters"] == {"code": "REPLY_TOPIC_FORBIDDEN"}
    assert replies.headers("fine")["status"] == b"ok"
    assert await end_offsets(kafka_bootstrap, forbidden) == 0


async def test_expired_deadline_is_answered_without_calling_the_model(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    models = ensure_models()
    repo, model = alias_repository(tmp_path, models, "tabular", ["1"])
    topic, reply, dlq = work_topic(model, "1"), unique("replies"), unique("dlq")
    await ensure_topics(KafkaSettings(kafka_bootstrap), {topic: 1, reply: 1})
    row = tabular_rows(1)[0].tolist()
    ids = [f"late{i}" for i in range(5)]
    await produce(
        kafka_bootstrap,
        topic,
        [
            (None, oip_body(c, "features", "FP32", [1, 32], row), request_headers(c, reply, deadline="1"))
            for c in ids
        ],
    )
    port = 19400 + int(unique("p").split(".")[1], 16) % 500
    args = ["worker", "--repository", str(repo), "--model", model, "--version", "1"]
    with inferq_process(args, worker_env(reply, dlq, INFERQ_METRICS_PORT=str(port)), tmp_path / "w.log"):
        replies = await collect(kafka_bootstrap, reply, set(ids), timeout_s=60)
        metrics = await asyncio.to_thread(scrape, f"http://127.0.0.1:{port}/metrics")
    for cid in ids:
        assert replies.body(cid)["parameters"] == {"code": "DEADLINE_EXCEEDED"}
    calls = [
        line for line in metrics.splitlines() if line.startswith("inferq_worker_inference_seconds_count")
    ]
    assert calls, metrics
    assert all(float(line.split()[-1]) == 0 for line in calls), calls
    assert orjson.loads(replies.by_id[ids[0]][0][1])["id"] == ids[0]
