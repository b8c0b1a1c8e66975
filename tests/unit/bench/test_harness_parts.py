"""Pure parts of the harness: pacing, reply parsing, tallying a backlog run, the table."""

from __future__ import annotations

import pytest

from bench.figures import INFERQ, NAIVE, Verdict
from bench.harness import WorkloadResult
from bench.kafka_io import Reply, to_reply
from bench.openloop import due_count
from bench.report import _no_nan, table
from bench.systems import tally
from schemas.model_config import ModelConfig


@pytest.mark.parametrize(
    ("elapsed_s", "rate", "total", "expected"),
    [
        (-0.1, 100.0, 10, 0),
        (0.0, 100.0, 10, 1),
        (0.05, 100.0, 10, 6),
        (10.0, 100.0, 10, 10),
        (0.999, 2.0, 5, 2),
    ],
)
def test_due_count(elapsed_s: float, rate: float, total: int, expected: int) -> None:
    assert due_count(elapsed_s, rate, total) == expected


def test_to_reply_reads_the_worker_headers() -> None:
    headers = [("correlation-id", b"b-7"), ("status", b"ok"), ("inferq-batch-size", b"64")]
    assert to_reply(headers, 1_000, 2.5) == Reply("b-7", True, 64, 1_000, 2.5)


def test_to_reply_of_a_baseline_and_of_an_error() -> None:
    assert to_reply([("correlation-id", b"x")], 5, 0.0) == Reply("x", True, 0, 5, 0.0)
    assert not to_reply([("correlation-id", b"x"), ("status", b"error")], 5, 0.0).ok


def _reply(cid: str, ts_ms: int, *, ok: bool = True) -> Reply:
    return Reply(cid, ok, 1, ts_ms, 0.0)


def test_tally_times_from_t0_to_the_last_reply() -> None:
    replies = [_reply("a", 11_000), _reply("b", 12_000), _reply("c", 13_000)]
    t = tally("tabular", INFERQ, replies, ["a", "b", "c"], t0=10.0)
    assert (t.answered, t.seconds, t.complete) == (3, 3.0, True)
    assert t.rate == pytest.approx(1.0)


def test_tally_counts_duplicates_errors_and_strangers_apart() -> None:
    replies = [_reply("a", 11_000), _reply("a", 11_500), _reply("b", 12_000, ok=False), _reply("z", 19_000)]
    t = tally("tabular", NAIVE, replies, ["a", "b"], t0=10.0)
    assert (t.answered, t.duplicates, t.errors, t.complete) == (1, 1, 1, False)
    # Neither the error reply nor a reply to a request of another run sets t_end.
    assert t.seconds == pytest.approx(1.5)


def test_no_nan_in_json() -> None:
    assert _no_nan({"a": [float("nan"), 1.0], "b": {"c": float("nan")}}) == {
        "a": [None, 1.0],
        "b": {"c": None},
    }


def test_table_marks_incomplete_runs_and_prints_verdicts() -> None:
    result = WorkloadResult("tabular", ModelConfig())
    result.throughputs.append(tally("tabular", NAIVE, [_reply("a", 11_000)], ["a", "b"], t0=10.0))
    text = table([result], {}, [Verdict("tabular: inferq / naive", None, ">= 20", None)])
    assert "INCOMPLETE" in text
    assert "tabular: inferq / naive" in text
    assert "N/A" in text
