"""The JSON form of route policies on `inference.routes`: round trip and rejected records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.routes import (
    InvalidPolicy,
    RoutePolicy,
    ShadowTarget,
    VersionWeight,
    policy_from_json,
    policy_to_json,
)

names = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)


@st.composite
def policies(draw: st.DrawFn) -> RoutePolicy:
    versions = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    weights = [draw(st.floats(0, 1e6)) for _ in versions]
    first_weight = draw(st.floats(0.001, 1e6))
    shadows = draw(st.lists(names, max_size=2, unique=True))
    listed = [*versions, *(s for s in shadows if s not in versions)]
    # The first version stays enabled with a positive weight, so the policy can route.
    disabled = draw(st.lists(st.sampled_from(listed[1:]), unique=True)) if len(listed) > 1 else []
    return RoutePolicy(
        model=draw(names),
        versions=tuple(
            VersionWeight(v, first_weight if i == 0 else w)
            for i, (v, w) in enumerate(zip(versions, weights, strict=True))
        ),
        sticky=draw(st.booleans()),
        allow_pin=draw(st.booleans()),
        shadows=tuple(ShadowTarget(s, draw(st.floats(0, 100))) for s in shadows),
        disabled=tuple(disabled),
    )


@given(policies())
def test_json_round_trip(policy: RoutePolicy) -> None:
    assert policy_from_json(policy_to_json(policy)) == policy


def test_json_defaults_and_unknown_fields() -> None:
    # Fields a newer publisher adds are ignored by older routers.
    decoded = policy_from_json(b'{"model": "m", "versions": {"1": 3}, "added_later": 1}')
    assert decoded == RoutePolicy("m", (VersionWeight("1", 3.0),))


def test_json_keeps_disabled_and_pin_only_versions() -> None:
    data = b'{"model":"m","versions":{"1":1,"2":0,"3":4},"disabled":["3"],"allow_pin":false}'
    decoded = policy_from_json(data)
    assert decoded.versions[1] == VersionWeight("2", 0.0)
    assert (decoded.disabled, decoded.allow_pin) == (("3",), False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"{", "not JSON", id="truncated"),
        pytest.param(b"[]", "JSON object", id="array"),
        pytest.param(b'{"versions": {"1": 1}}', "string 'model'", id="no-model"),
        pytest.param(b'{"model": "m"}', "'versions' is required", id="no-versions"),
        pytest.param(b'{"model": "m", "versions": [["1", 1]]}', "must map", id="versions-list"),
        pytest.param(b'{"model": "m", "versions": {"1": "80"}}', "must be a number", id="weight-str"),
        pytest.param(b'{"model": "m", "versions": {"1": true}}', "must be a number", id="weight-bool"),
        pytest.param(b'{"model": "m", "versions": {"1": 0}}', "sum to > 0", id="zero-total"),
        pytest.param(b'{"model": "m", "versions": {"1": 1}, "sticky": 1}', "'sticky'", id="sticky-int"),
        pytest.param(b'{"model": "m", "versions": {"1": 1}, "disabled": "1"}', "list", id="disabled-str"),
        pytest.param(b'{"model": "m.x", "versions": {"1": 1}}', "invalid model name", id="bad-model"),
        pytest.param(b'{"model": "m", "versions": {"1": 1}, "shadows": {"2": -1}}', "percent", id="shadow"),
    ],
)
def test_json_rejects_bad_records(data: bytes, message: str) -> None:
    with pytest.raises(InvalidPolicy, match=message):
        policy_from_json(data)
