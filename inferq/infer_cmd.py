"""`inferq infer`: send one inference request and print its reply."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from inferq.client import InferenceError, InferqClient, ReplyTimeout
from inferq.transport import KafkaSettings
from schemas.codec import decode_request
from schemas.messages import InferenceRequest, InferenceResponse
from schemas.topics import REPLIES, REQUESTS, work_topic

EXAMPLES = """examples:
  inferq infer --model intent --input text="my card was charged twice"
  inferq infer --model tabular --input features='[0.1, 0.2, ...32 numbers]'
  inferq infer --model intent --version 2 --input text="where is my parcel"   # a pin
  inferq infer --model intent --request request.json                          # a full OIP V2 body
  echo '{"inputs": [...]}' | inferq infer --model tabular --request -

--input NAME=VALUE: a JSON number or list becomes an FP32 tensor of one row
([1, n]); anything else is text, a BYTES tensor of shape [1]. --request takes a
whole Open Inference Protocol request body instead. Errors print their code
and exit 2; no reply within --timeout exits 3.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `infer` subcommand."""
    parser = subparsers.add_parser(
        "infer",
        help="send one inference request and print the reply",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", default=None, help="pin a version (if the route policy allows it)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", action="append", metavar="NAME=VALUE", help="one input (repeatable)")
    source.add_argument("--request", type=Path, help="file holding an OIP V2 request body ('-': stdin)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the reply")
    parser.add_argument("--requests-topic", default=REQUESTS)
    parser.add_argument("--reply-topic", default=REPLIES)
    parser.add_argument(
        "--direct", action="store_true", help="skip the router: send to the work topic of --model/--version"
    )
    parser.set_defaults(func=_run)


def parse_inputs(pairs: list[str]) -> dict[str, np.ndarray]:
    """`NAME=VALUE` pairs as arrays: JSON numbers/lists become FP32 rows, other values text."""
    inputs: dict[str, np.ndarray] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"--input wants NAME=VALUE, got {pair!r}")
        try:
            parsed: Any = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, (int, float, list)) and not isinstance(parsed, bool):
            array = np.asarray(parsed, dtype=np.float32)
            inputs[name] = array.reshape(1, -1) if array.ndim <= 1 else array
        else:
            inputs[name] = np.array([value.encode()], dtype=object)
    return inputs


def _run(args: argparse.Namespace) -> int:
    if args.direct and args.version is None:
        sys.stderr.write("--direct needs --version\n")
        return 2
    inputs: dict[str, np.ndarray] | InferenceRequest
    if args.request is not None:
        body = sys.stdin.buffer.read() if str(args.request) == "-" else args.request.read_bytes()
        inputs = decode_request(body)
    else:
        inputs = parse_inputs(args.input)
    return asyncio.run(_infer(args, inputs))


async def _infer(args: argparse.Namespace, inputs: dict[str, np.ndarray] | InferenceRequest) -> int:
    topic = work_topic(args.model, args.version) if args.direct else None
    client = InferqClient(
        KafkaSettings.from_env(), request_topic=args.requests_topic, reply_topic=args.reply_topic
    )
    async with client:
        try:
            reply = await client.infer(
                args.model, inputs, version=args.version, timeout_s=args.timeout, topic=topic
            )
        except InferenceError as exc:
            sys.stdout.write(orjson.dumps({"error": exc.reply.error, "code": exc.code}).decode() + "\n")
            return 2
        except ReplyTimeout as exc:
            sys.stderr.write(f"{exc}\n")
            return 3
    sys.stdout.write(orjson.dumps(_printable(reply.response), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _printable(response: InferenceResponse) -> dict[str, Any]:
    return {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "id": response.id,
        "outputs": [
            {
                "name": t.name,
                "datatype": t.datatype,
                "shape": list(t.shape),
                "data": [
                    v.decode(errors="replace") if isinstance(v, bytes) else v for v in t.data.ravel().tolist()
                ],
            }
            for t in response.outputs
        ],
    }
