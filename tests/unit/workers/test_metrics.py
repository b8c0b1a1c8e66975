"""The vectorised histogram update agrees with prometheus_client's own observe()."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from workers.metrics import observe_many

BUCKETS = (0.001, 0.01, 0.1, 1.0)


def samples(h: Histogram) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for m in h.collect()
        for s in m.samples
        if "created" not in s.name
    }


@given(st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), max_size=50))
def test_observe_many_equals_observe_one_by_one(values: list[float]) -> None:
    one = Histogram("one", "h", buckets=BUCKETS, registry=CollectorRegistry())
    many = Histogram("many", "h", buckets=BUCKETS, registry=CollectorRegistry())
    for v in values:
        one.observe(v)
    observe_many(many, values)
    expected = {(n.replace("one", "many"), le): v for (n, le), v in samples(one).items()}
    got = samples(many)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(got[key] - value) < 1e-9, key


def test_a_value_on_a_bound_lands_in_that_bucket() -> None:
    h = Histogram("edge", "h", buckets=BUCKETS, registry=CollectorRegistry())
    observe_many(h, [0.01])
    assert samples(h)[("edge_bucket", "0.001")] == 0
    assert samples(h)[("edge_bucket", "0.01")] == 1
