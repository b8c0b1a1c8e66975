"""Codec cost per request: decode the request, encode the reply, on one Python thread.

Run: `.venv/bin/python -m bench.codec_bench [--repeat N]`. Prints CPU µs per request
(best of N short timeit runs, process CPU time so other processes count less)
for the bench workloads' payloads, JSON and binary. `floor` is bare orjson in the same
run: parse the request body and render an equivalent reply dict, no validation, no
numpy; `x floor` is the codec's cost as a multiple of it. A second table compares the
two ways of rendering numeric outputs as JSON (orjson's numpy support vs `.tolist()`). A third compares the
general codec with the worker's fast lane (`schemas.fast_codec`) on the JSON forms: decode
one request, and render the replies of one onnxruntime call of `CALL_ROWS` rows.
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson

from schemas.codec import Limits, decode_request, encode_request, encode_response
from schemas.fast_codec import RequestLane, render_responses
from schemas.headers import parse_meta
from schemas.messages import InferenceRequest, InferenceResponse
from schemas.model_config import TensorSpec
from schemas.tensors import Datatype, Tensor, datatype_of

RUN = 1000
CALL_ROWS = 64
TICKET = "My invoice for March was charged twice and the refund never arrived, please help"


@dataclass(frozen=True, slots=True)
class Case:
    """One workload's request and the reply its model would produce."""

    name: str
    request: InferenceRequest
    response: InferenceResponse


def _fp32(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> Tensor:
    return Tensor(name, Datatype.FP32, shape, rng.standard_normal(shape).astype(np.float32))


def cases() -> list[Case]:
    """The tabular, heavy and intent payloads of BENCH.md."""
    rng = np.random.default_rng(7)
    tabular = Case(
        "tabular FP32[1,32]",
        InferenceRequest("req-1", (_fp32("input", (1, 32), rng),)),
        InferenceResponse("tabular", "1", "req-1", (_fp32("probabilities", (1, 2), rng),)),
    )
    heavy = Case(
        "heavy FP32[1,256]",
        InferenceRequest("req-1", (_fp32("input", (1, 256), rng),)),
        InferenceResponse("heavy", "1", "req-1", (_fp32("logits", (1, 10), rng),)),
    )
    text = np.array([TICKET.encode()], dtype=object)
    label = np.array([b"billing"], dtype=object)
    intent = Case(
        "intent BYTES[1]",
        InferenceRequest("req-1", (Tensor("text", Datatype.BYTES, (1,), text),)),
        InferenceResponse(
            "intent",
            "1",
            "req-1",
            (Tensor("label", Datatype.BYTES, (1,), label), _fp32("probabilities", (1, 8), rng)),
        ),
    )
    return [tabular, heavy, intent]


def best_us(func: Callable[[], object], repeat: int) -> float:
    """Best-of-`repeat` µs per call over short runs of 1,000 calls.

    Many short runs rather than a few long ones: on a shared box, the best run is the
    one least disturbed by other processes.
    """
    timer = timeit.Timer(func, timer=time.process_time)
    return min(timer.repeat(repeat=repeat, number=RUN)) / RUN * 1e6


def measure(case: Case, *, binary: bool, repeat: int) -> tuple[float, float]:
    """(decode µs, encode µs) for one case."""
    encoded = encode_request(case.request, binary=binary)
    body, header_length = encoded.body, encoded.header_length
    decode_us = best_us(lambda: decode_request(body, header_length=header_length), repeat)
    encode_us = best_us(lambda: encode_response(case.response, binary=binary), repeat)
    return decode_us, encode_us


def floor_us(case: Case, repeat: int) -> float:
    """Bare orjson on the JSON forms: parse the request, render the reply as plain lists."""
    body = encode_request(case.request).body
    reply = orjson.loads(encode_response(case.response).body)
    return best_us(lambda: (orjson.loads(body), orjson.dumps(reply)), repeat)


def render_strategies(case: Case, repeat: int) -> tuple[float, float]:
    """(orjson numpy µs, tolist µs) to render the case's reply as JSON."""

    def doc(data: Callable[[Tensor], object]) -> dict[str, object]:
        response = case.response
        outputs = [
            {"name": t.name, "datatype": t.datatype, "shape": t.shape, "data": data(t)}
            for t in response.outputs
            if t.datatype is not Datatype.BYTES
        ]
        return {"model_name": response.model_name, "id": response.id, "outputs": outputs}

    numpy_us = best_us(
        lambda: orjson.dumps(doc(lambda t: t.data.reshape(-1)), option=orjson.OPT_SERIALIZE_NUMPY),
        repeat,
    )
    tolist_us = best_us(lambda: orjson.dumps(doc(lambda t: t.data.reshape(-1).tolist())), repeat)
    return numpy_us, tolist_us


def lane_us(case: Case, repeat: int) -> tuple[float, float]:
    """(fast-lane decode µs per request, fast-lane render µs per reply in a call of CALL_ROWS rows)."""
    (tensor,) = case.request.inputs
    spec = TensorSpec(tensor.name, tensor.datatype, (-1, *tensor.shape[1:]))
    lane = RequestLane.for_inputs((spec,), CALL_ROWS, Limits())
    assert lane is not None
    body, meta = encode_request(case.request).body, parse_meta(())
    decode = best_us(lambda: lane.decode(body, meta), repeat)
    outputs = [
        (t.name, datatype_of(t.data), np.repeat(t.data, CALL_ROWS, axis=0)) for t in case.response.outputs
    ]
    ids = [f"req-{i}" for i in range(CALL_ROWS)]
    bounds = [(i, i + 1) for i in range(CALL_ROWS)]
    render = best_us(lambda: render_responses("m", "1", ids, outputs, bounds), max(1, repeat // 10))
    return decode, render / CALL_ROWS


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=100, help="timeit runs; the best is kept")
    repeat = parser.parse_args().repeat
    columns = ("bytes", "decode", "encode", "total", "floor", "x floor")
    print(f"{'payload':<20}{'form':<8}" + "".join(f"{name:>8}" for name in columns))
    for case in cases():
        floor = floor_us(case, repeat)
        for binary in (False, True):
            size = len(encode_request(case.request, binary=binary).body)
            decode_us, encode_us = measure(case, binary=binary, repeat=repeat)
            total = decode_us + encode_us
            print(
                f"{case.name:<20}{'binary' if binary else 'JSON':<8}{size:>8}{decode_us:>8.2f}"
                f"{encode_us:>8.2f}{total:>8.2f}{floor:>8.2f}{total / floor:>8.2f}"
            )
    print("\nrendering numeric outputs as JSON (CPU µs per reply)")
    print(f"{'payload':<20}{'orjson numpy':>14}{'tolist':>9}")
    for case in cases():
        numpy_us, tolist_us = render_strategies(case, repeat)
        print(f"{case.name:<20}{numpy_us:>14.2f}{tolist_us:>9.2f}")
    print(f"\ngeneral codec vs fast lane, JSON (CPU µs per request; replies of a {CALL_ROWS}-row call)")
    print(f"{'payload':<20}" + "".join(f"{name:>10}" for name in ("decode", "lane", "encode", "render")))
    for case in cases():
        decode_us, encode_us = measure(case, binary=False, repeat=repeat)
        fast_decode, fast_render = lane_us(case, repeat)
        print(f"{case.name:<20}{decode_us:>10.2f}{fast_decode:>10.2f}{encode_us:>10.2f}{fast_render:>10.2f}")


if __name__ == "__main__":
    main()
