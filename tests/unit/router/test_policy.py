"""Version choice (pins, disabled, sticky, weights), shadow sampling, and the route table."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.policy import (
    BUCKETS,
    CompiledPolicy,
    RouteTable,
    apply_update,
    bucket_of,
    choose_version,
    compile_policy,
    resolve,
    shadow_versions,
)
from schemas.errors import ErrorCode
from schemas.routes import (
    InvalidPolicy,
    RoutePolicy,
    ShadowTarget,
    UnknownModel,
    UnknownVersion,
    VersionWeight,
)


def compiled(
    weights: Mapping[str, float],
    *,
    sticky: bool = False,
    allow_pin: bool = True,
    shadows: Mapping[str, float] | None = None,
    disabled: tuple[str, ...] = (),
) -> CompiledPolicy:
    return compile_policy(
        RoutePolicy(
            model="m",
            versions=tuple(VersionWeight(v, w) for v, w in weights.items()),
            sticky=sticky,
            allow_pin=allow_pin,
            shadows=tuple(ShadowTarget(v, p) for v, p in (shadows or {}).items()),
            disabled=disabled,
        )
    )


def random_keys(seed: int, n: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(12) for _ in range(n)]


@pytest.mark.parametrize(
    ("weights", "options", "call", "expected"),
    [
        pytest.param({"1": 80, "2": 20}, {}, (None, None, 0.0), "1", id="rand-low-first"),
        pytest.param({"1": 80, "2": 20}, {}, (None, None, 0.7999), "1", id="rand-below-boundary"),
        pytest.param({"1": 80, "2": 20}, {}, (None, None, 0.8), "2", id="rand-at-boundary"),
        pytest.param({"1": 80, "2": 20}, {}, (None, None, 0.9999999), "2", id="rand-top"),
        pytest.param({"2": 20, "1": 80}, {}, (None, None, 0.5), "1", id="listing-order-irrelevant"),
        pytest.param({"10": 50, "9": 50}, {}, (None, None, 0.4), "9", id="numeric-version-order"),
        pytest.param({"1": 80, "2": 20}, {}, (None, "2", 0.0), "2", id="pin-wins"),
        pytest.param({"1": 100, "2": 0}, {}, (None, "2", 0.0), "2", id="pin-to-zero-weight"),
        pytest.param({"1": 1, "2": 0}, {}, (None, None, 0.99), "1", id="zero-weight-never-drawn"),
        pytest.param({"1": 80, "2": 20}, {"allow_pin": False}, (None, "2", 0.1), "1", id="pin-ignored"),
        pytest.param(
            {"1": 80, "2": 20}, {"allow_pin": False}, (None, "9", 0.9), "2", id="unknown-pin-ignored"
        ),
        pytest.param({"1": 50, "2": 50}, {"disabled": ("1",)}, (None, None, 0.0), "2", id="disabled-0"),
        pytest.param({"1": 50, "2": 50}, {"sticky": True}, (b"user-7", "1", 0.9), "1", id="pin-beats-sticky"),
        pytest.param({"1": 50, "2": 50}, {"sticky": True}, (None, None, 0.9), "2", id="sticky-no-key"),
        pytest.param({"1": 50, "2": 50}, {}, (b"user-7", None, 0.1), "1", id="key-ignored-not-sticky"),
        pytest.param({"1": 50, "2": 50}, {}, (b"user-7", None, 0.6), "2", id="key-ignored-not-sticky-2"),
    ],
)
def test_choose_version(
    weights: dict[str, float],
    options: dict[str, Any],
    call: tuple[bytes | None, str | None, float],
    expected: str,
) -> None:
    key, pinned, rand = call
    policy = compiled(weights, **options)
    assert choose_version(policy, key, pinned, rand) == expected


@pytest.mark.parametrize(
    ("weights", "options", "pinned"),
    [
        pytest.param({"1": 80, "2": 20}, {}, "3", id="not-listed"),
        pytest.param({"1": 80, "2": 20}, {"disabled": ("2",)}, "2", id="disabled"),
        pytest.param({"1": 80}, {"shadows": {"3": 5}}, "3", id="shadow-only"),
        pytest.param({"1": 80}, {}, "", id="empty"),
    ],
)
def test_bad_pin_is_unknown_version(weights: dict[str, float], options: dict[str, Any], pinned: str) -> None:
    policy = compiled(weights, **options)
    with pytest.raises(UnknownVersion) as info:
        choose_version(policy, None, pinned, 0.5)
    assert info.value.code is ErrorCode.UNKNOWN_VERSION


def test_sticky_uses_the_crc32_bucket_layout() -> None:
    # 80/20 over 10,000 buckets: 1 owns buckets [0, 8000), 2 owns [8000, 10000).
    policy = compiled({"1": 80, "2": 20}, sticky=True)
    keys = random_keys(1, 2_000)
    for key in keys:
        assert choose_version(policy, key, None, 0.0) == ("1" if bucket_of(key) < 8000 else "2")
    assert len(policy.buckets) == BUCKETS


def test_bucket_of_is_crc32_ieee() -> None:
    # The stickiness contract: must match zlib/java.util.zip CRC-32 in every process and language.
    assert bucket_of(b"123456789") == 0xCBF43926 % 10_000


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    weights=st.lists(st.integers(1, 100), min_size=1, max_size=4),
    sticky=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_observed_split_within_4_sigma(weights: list[int], sticky: bool, seed: int) -> None:
    n = 100_000
    policy = compiled({str(i + 1): w for i, w in enumerate(weights)}, sticky=sticky)
    rng = random.Random(seed)
    counts = dict.fromkeys(policy.versions, 0)
    for key in random_keys(seed, n):
        counts[choose_version(policy, key, None, rng.random())] += 1
    total = sum(weights)
    for i, w in enumerate(weights):
        p = w / total
        sigma = math.sqrt(n * p * (1 - p))
        # Bucket rounding shifts a share by at most one bucket per boundary.
        slack = 2 * n / BUCKETS if sticky else 0
        assert abs(counts[str(i + 1)] - n * p) <= 4 * sigma + slack


@settings(max_examples=50, deadline=None)
@given(
    weights=st.lists(st.integers(1, 100), min_size=1, max_size=4),
    key=st.binary(max_size=40),
    rands=st.lists(st.floats(0, 1, exclude_max=True), min_size=2, max_size=5),
)
def test_sticky_key_stays_on_one_version(weights: list[int], key: bytes, rands: list[float]) -> None:
    policy = compiled({str(i): w for i, w in enumerate(weights)}, sticky=True)
    chosen = {choose_version(policy, key, None, r) for r in rands}
    assert len(chosen) == 1


KEYS = random_keys(7, 20_000)


def assignment(policy: CompiledPolicy) -> list[str]:
    return [choose_version(policy, key, None, 0.0) for key in KEYS]


@settings(max_examples=40, deadline=None)
@given(
    base=st.integers(1, 99),
    grown=st.integers(1, 99),
    canary_first=st.booleans(),
)
def test_two_versions_growing_one_moves_keys_only_into_it(base: int, grown: int, canary_first: bool) -> None:
    low, high = sorted((base, grown))
    canary, stable = ("1", "2") if canary_first else ("2", "1")
    before = assignment(compiled({canary: low, stable: 100 - low}, sticky=True))
    after = assignment(compiled({canary: high, stable: 100 - high}, sticky=True))
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert all(b == stable and a == canary for b, a in moved)
    # Minimal reshuffle: the moved share is the weight delta (the bucket sizes are exact here).
    assert len(moved) == sum(1 for k in KEYS if _in_delta(k, low, high, canary_first))


def _in_delta(key: bytes, low: int, high: int, canary_first: bool) -> bool:
    b = bucket_of(key)
    if canary_first:
        return low * 100 <= b < high * 100
    return (100 - high) * 100 <= b < (100 - low) * 100


@settings(max_examples=40, deadline=None)
@given(
    weights=st.lists(st.integers(1, 100), min_size=3, max_size=4),
    grown_index=st.integers(0, 3),
    factor=st.integers(2, 5),
)
def test_three_or_more_versions_growing_one_never_moves_keys_out_of_it(
    weights: list[int], grown_index: int, factor: int
) -> None:
    grown = str(grown_index % len(weights))
    before_weights = {str(i): w for i, w in enumerate(weights)}
    after_weights = {**before_weights, grown: before_weights[grown] * factor}
    before = assignment(compiled(before_weights, sticky=True))
    after = assignment(compiled(after_weights, sticky=True))
    assert all(a == grown for b, a in zip(before, after, strict=True) if b == grown)


def test_three_versions_others_may_trade_keys() -> None:
    # The documented limit of contiguous ranges: 1/2/3 at 45/45/10 -> 40/40/20 also moves
    # the keys of buckets [4000, 4500) from 1 to 2.
    before = assignment(compiled({"1": 45, "2": 45, "3": 10}, sticky=True))
    after = assignment(compiled({"1": 40, "2": 40, "3": 20}, sticky=True))
    trades = {(b, a) for b, a in zip(before, after, strict=True) if b != a}
    assert trades == {("1", "2"), ("2", "3")}
    one_to_two = sum(1 for b, a in zip(before, after, strict=True) if (b, a) == ("1", "2"))
    assert one_to_two == sum(1 for k in KEYS if 4000 <= bucket_of(k) < 4500)


@pytest.mark.parametrize(
    ("shadows", "disabled", "rand", "primary", "expected"),
    [
        pytest.param({}, (), 0.0, None, (), id="none"),
        pytest.param({"3": 5}, (), 0.0499, None, ("3",), id="inside-percent"),
        pytest.param({"3": 5}, (), 0.05, None, (), id="at-percent"),
        pytest.param({"3": 5, "4": 50}, (), 0.01, None, ("4", "3"), id="nested-samples"),
        pytest.param({"3": 5, "4": 50}, (), 0.2, None, ("4",), id="only-the-larger"),
        pytest.param({"3": 100}, (), 0.999, None, ("3",), id="hundred-percent"),
        pytest.param({"3": 0}, (), 0.0, None, (), id="zero-percent"),
        pytest.param({"3": 50}, ("3",), 0.0, None, (), id="disabled-shadow"),
        pytest.param({"2": 50}, (), 0.0, "2", (), id="primary-excluded"),
    ],
)
def test_shadow_versions(
    shadows: dict[str, float],
    disabled: tuple[str, ...],
    rand: float,
    primary: str | None,
    expected: tuple[str, ...],
) -> None:
    policy = compiled({"1": 1, "2": 0}, shadows=shadows, disabled=disabled)
    assert shadow_versions(policy, rand, primary=primary) == expected


@pytest.mark.parametrize(
    ("weights", "options", "message"),
    [
        pytest.param({}, {}, "sum to > 0", id="no-versions"),
        pytest.param({"1": 0}, {}, "sum to > 0", id="all-zero"),
        pytest.param({"1": 5}, {"disabled": ("1",)}, "sum to > 0", id="all-disabled"),
        pytest.param({"1": -1, "2": 5}, {}, "finite and >= 0", id="negative"),
        pytest.param({"1": math.nan}, {}, "finite and >= 0", id="nan"),
        pytest.param({"1": math.inf}, {}, "finite and >= 0", id="inf"),
        pytest.param({"1.0": 1}, {}, "invalid version", id="dotted-version"),
        pytest.param({"1": 1}, {"shadows": {"3": 101}}, r"in \[0, 100\]", id="shadow-over-100"),
        pytest.param({"1": 1}, {"shadows": {"a b": 1}}, "invalid shadow version", id="bad-shadow"),
        pytest.param({"1": 1}, {"disabled": ("7",)}, "does not list", id="disabled-unknown"),
        pytest.param({"1": 1}, {"disabled": ("1", "1")}, "twice", id="disabled-twice"),
    ],
)
def test_compile_rejects_policies_that_cannot_route(
    weights: dict[str, float], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidPolicy, match=message):
        compiled(weights, **options)


def test_compile_rejects_duplicate_versions() -> None:
    policy = RoutePolicy("m", (VersionWeight("1", 1), VersionWeight("1", 2)))
    with pytest.raises(InvalidPolicy, match="twice"):
        compile_policy(policy)


def test_compile_rejects_bad_model_name() -> None:
    with pytest.raises(InvalidPolicy, match="invalid model name"):
        compile_policy(RoutePolicy("in.tent", (VersionWeight("1", 1),)))


def policy(model: str, *weights: tuple[str, float]) -> RoutePolicy:
    return RoutePolicy(model, tuple(VersionWeight(v, w) for v, w in weights))


def test_apply_update_adds_replaces_and_removes() -> None:
    table = apply_update(RouteTable(), "a", policy("a", ("1", 1)))
    table = apply_update(table, "b", policy("b", ("1", 1)))
    assert (sorted(table.policies), table.revision) == (["a", "b"], 2)
    table = apply_update(table, "a", policy("a", ("2", 1)))
    assert (table.policies["a"].versions, table.revision) == (("2",), 3)
    table = apply_update(table, "a", None)
    assert (sorted(table.policies), table.revision) == (["b"], 4)


def test_apply_update_without_change_keeps_the_table() -> None:
    table = apply_update(RouteTable(), "a", policy("a", ("1", 1)))
    assert apply_update(table, "a", policy("a", ("1", 1))) is table
    assert apply_update(table, "zzz", None) is table


def test_apply_update_leaves_the_old_table_untouched() -> None:
    old = apply_update(RouteTable(), "a", policy("a", ("1", 1)))
    apply_update(old, "a", None)
    assert list(old.policies) == ["a"]


@pytest.mark.parametrize(
    ("model", "value"),
    [
        pytest.param("a", policy("b", ("1", 1)), id="key-mismatch"),
        pytest.param("a", policy("a", ("1", 0)), id="cannot-route"),
    ],
)
def test_apply_update_rejects_bad_policies(model: str, value: RoutePolicy) -> None:
    table = apply_update(RouteTable(), "a", policy("a", ("1", 1)))
    with pytest.raises(InvalidPolicy):
        apply_update(table, model, value)


def repository(model: str) -> tuple[str, ...]:
    return {"intent": ("1", "2", "10")}.get(model, ())


def test_resolve_prefers_the_policy() -> None:
    table = apply_update(RouteTable(), "intent", policy("intent", ("1", 1)))
    assert resolve(table, "intent", default_versions=repository).versions == ("1",)


def test_resolve_defaults_to_the_newest_repository_version() -> None:
    compiled_default = resolve(RouteTable(), "intent", default_versions=repository)
    assert choose_version(compiled_default, b"k", None, 0.99) == "10"
    # Older repository versions stay reachable by pin.
    assert choose_version(compiled_default, None, "1", 0.0) == "1"


@pytest.mark.parametrize(
    "default_versions", [pytest.param(None, id="no-repository"), pytest.param(repository, id="absent")]
)
def test_resolve_unknown_model(default_versions: Callable[[str], tuple[str, ...]] | None) -> None:
    with pytest.raises(UnknownModel) as info:
        resolve(RouteTable(), "other", default_versions=default_versions)
    assert info.value.code is ErrorCode.UNKNOWN_MODEL
