"""The profile summary: py-spy's collapsed stacks, attributed to the worker's stages."""

from __future__ import annotations

import pytest

from bench.profile import IDLE, NO_FRAMES, STARTUP, Sample, parse_collapsed, stage_of, summarize

LOOP = ("run_forever (asyncio/base_events.py:607)", "_run_once (asyncio/base_events.py:1922)")
PUBLISH = (
    *LOOP,
    "WorkerService._executor (workers/service.py:219)",
    "WorkerService._publish (workers/service.py:274)",
)
POOL = ("Thread.run (threading.py:982)", "_worker (concurrent/futures/thread.py:81)")


@pytest.mark.parametrize(
    ("frames", "stage"),
    [
        # The most specific stage on the stack wins over the functions enclosing it.
        (
            (*PUBLISH, "reply_record (workers/replies.py:31)", "encode_response (schemas/codec.py:150)"),
            "encode reply (codec)",
        ),
        ((*PUBLISH, "reply_record (workers/replies.py:31)"), "reply record + headers"),
        (
            (
                *PUBLISH,
                "Producer.send (inferq/transport.py:119)",
                "AIOKafkaProducer.send (aiokafka/producer/producer.py:1)",
                "_call_soon (asyncio/base_events.py:781)",
            ),
            "produce (append, send, acks)",
        ),
        (PUBLISH, "split outputs, build responses"),
        (
            (
                *PUBLISH,
                "segment_replies (workers/replies.py:60)",
                "render_responses (schemas/fast_codec.py:130)",
            ),
            "encode reply (codec)",
        ),
        (
            (
                *LOOP,
                "triage (workers/triage.py:73)",
                "RequestLane.decode (schemas/fast_codec.py:60)",
                "RequestLane._tensor (schemas/fast_codec.py:80)",
            ),
            "decode request (codec)",
        ),
        (
            (
                *POOL,
                "WorkerService._infer (workers/service.py:240)",
                "InferenceSession.run (onnxruntime/capi/x.py:220)",
            ),
            "onnxruntime run",
        ),
        (POOL, IDLE),
        (("<module> (workers/process.py:1)", "_find_and_load (<frozen importlib._bootstrap>:1)"), STARTUP),
        (LOOP, "event loop"),
        ((), NO_FRAMES),
        (("main (elsewhere.py:1)",), "other"),
    ],
)
def test_stage_of(frames: tuple[str, ...], stage: str) -> None:
    assert stage_of(frames) == stage


def test_parse_collapsed() -> None:
    lines = ["thread (7): MainThread;a (x.py:1);b (y.py:2) 12\n", "thread (9) 3\n", "garbage\n"]
    assert parse_collapsed(lines) == [
        Sample("thread (7): MainThread", ("a (x.py:1)", "b (y.py:2)"), 12),
        Sample("thread (9)", (), 3),
    ]


def test_summary_leaves_out_start_up_and_idle_and_names_threads() -> None:
    samples = [
        Sample("thread (7): MainThread", (*PUBLISH, "encode_response (schemas/codec.py:1)"), 75),
        Sample("thread (7)", LOOP, 25),
        Sample("thread (7): MainThread", ("x (<frozen importlib._bootstrap>:1)",), 500),
        Sample("thread (8): onnxruntime_0", POOL, 400),
    ]
    text = summarize(samples, seconds=1.0, answered=1000)
    # 100 steady samples at 250/s = 0.4 thread-s for 1000 requests: 400 us each, 3/4 of it encoding.
    assert "= 400 us per request" in text
    assert "encode reply (codec)" in text
    assert "75.0%" in text
    assert "300.0" in text
    assert "onnxruntime_0" not in text
    assert "MainThread" in text
