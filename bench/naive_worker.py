"""naive: the inference worker a user writes in twenty lines with FastStream.

One subscriber, one message at a time: FastStream parses the JSON body, the
handler builds the input array, calls onnxruntime with a batch of one (one
intra-op thread, like the served models) and awaits the publish of a KServe V2
reply. FastStream's defaults otherwise, including its per-message log lines.
Runs until SIGTERM.

Run: `python -m bench.naive_worker --model PATH --name NAME --topic T --group G --reply-topic R`
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import numpy as np
import onnxruntime as ort
from faststream import FastStream
from faststream.kafka import KafkaBroker

DTYPES = {"FP32": np.float32, "BYTES": object}


def build(args: argparse.Namespace) -> FastStream:
    """The FastStream app: one subscriber that infers and publishes each message."""
    broker = KafkaBroker(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(args.model, sess_options=options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    @broker.subscriber(args.topic, group_id=args.group, auto_offset_reset="earliest")  # type: ignore[untyped-decorator]  # faststream is untyped
    async def infer(body: dict[str, Any]) -> None:
        tensor = body["inputs"][0]
        x = np.array(tensor["data"], dtype=DTYPES[tensor["datatype"]]).reshape(tensor["shape"])
        results = session.run(None, {tensor["name"]: x})
        outputs = [
            {"name": n, "shape": list(r.shape), "datatype": "BYTES" if r.dtype == object else "FP32"}
            | {"data": r.reshape(-1).tolist()}
            for n, r in zip(names, results, strict=True)
        ]
        reply = {"model_name": args.name, "model_version": "1", "id": body["id"], "outputs": outputs}
        await broker.publish(reply, args.reply_topic, headers={"correlation-id": body["id"]})

    return FastStream(broker)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.naive_worker")
    parser.add_argument("--model", required=True, help="path of the model.onnx")
    parser.add_argument("--name", required=True, help="model name for the replies")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--reply-topic", required=True)
    asyncio.run(build(parser.parse_args(argv)).run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
