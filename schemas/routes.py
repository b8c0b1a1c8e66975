"""Route-policy value types, their JSON form on `inference.routes`, and the routing errors.

A policy says, for one model, how requests are split between its versions
(weights), whether a key sticks to a version, whether the `model-version`
header may pin one, which versions get shadow copies (percent sampled) and
which versions are switched off. The JSON form, one record per model keyed by
the model name on the compacted topic::

    {"model": "intent", "versions": {"1": 80, "2": 20}, "sticky": true,
     "allow_pin": true, "shadows": {"3": 5}, "disabled": []}

`versions` and `shadows` are objects (version -> weight, version -> percent).
Unknown fields are ignored so that an older router keeps reading records that
a newer publisher enriched; every known field is checked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.errors import ErrorCode, SchemaError
from schemas.topics import check_name


class RouteError(Exception):
    """Root of routing errors; `code` is the error-reply code when a request caused it."""

    code: ErrorCode | None = None
    retriable = False


class UnknownModel(RouteError):  # noqa: N818 -- names fixed by the shared API contract
    """No policy and no repository version for the requested model."""

    code = ErrorCode.UNKNOWN_MODEL


class UnknownVersion(RouteError):  # noqa: N818 -- names fixed by the shared API contract
    """A pinned version that the model's policy does not serve (absent or disabled)."""

    code = ErrorCode.UNKNOWN_VERSION


class InvalidPolicy(RouteError):  # noqa: N818 -- names fixed by the shared API contract
    """A policy that cannot route: bad names, weights or percentages, or undecodable JSON."""


@dataclass(frozen=True, slots=True)
class VersionWeight:
    """A served version and its relative weight (any non-negative scale; 0 = pin-only)."""

    version: str
    weight: float


@dataclass(frozen=True, slots=True)
class ShadowTarget:
    """A version that receives a flagged copy of `percent` % of the model's requests."""

    version: str
    percent: float


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """How one model's requests are routed to its versions."""

    model: str
    versions: tuple[VersionWeight, ...]
    sticky: bool = False
    allow_pin: bool = True
    shadows: tuple[ShadowTarget, ...] = ()
    disabled: tuple[str, ...] = ()


def validate_policy(policy: RoutePolicy) -> RoutePolicy:
    """Return `policy` if it can route, else raise InvalidPolicy saying what is wrong."""
    _check_name(policy.model, "model name")
    served = _unique((v.version for v in policy.versions), "versions")
    shadowed = _unique((s.version for s in policy.shadows), "shadows")
    disabled = _unique(policy.disabled, "disabled")
    for v in policy.versions:
        _check_name(v.version, "version")
        if not (math.isfinite(v.weight) and v.weight >= 0):
            raise InvalidPolicy(f"weight of version {v.version!r} must be finite and >= 0, got {v.weight!r}")
    for s in policy.shadows:
        _check_name(s.version, "shadow version")
        if not (math.isfinite(s.percent) and 0 <= s.percent <= 100):
            raise InvalidPolicy(f"percent of shadow {s.version!r} must be in [0, 100], got {s.percent!r}")
    stray = disabled - served - shadowed
    if stray:
        # A typo here would silently leave the version it meant switched on.
        raise InvalidPolicy(f"disabled names versions the policy does not list: {sorted(stray)}")
    if sum(v.weight for v in policy.versions if v.version not in disabled) <= 0:
        raise InvalidPolicy(f"model {policy.model!r}: the enabled versions' weights must sum to > 0")
    return policy


def policy_to_json(policy: RoutePolicy) -> bytes:
    """The policy's record value on `inference.routes`."""
    return orjson.dumps(policy_to_dict(policy))


def policy_to_dict(policy: RoutePolicy) -> dict[str, Any]:
    """The policy as plain JSON-ready values (the same shape as `policy_to_json`)."""
    return {
        "model": policy.model,
        "versions": {v.version: v.weight for v in policy.versions},
        "sticky": policy.sticky,
        "allow_pin": policy.allow_pin,
        "shadows": {s.version: s.percent for s in policy.shadows},
        "disabled": list(policy.disabled),
    }


def policy_from_json(data: bytes) -> RoutePolicy:
    """Decode and validate a policy record value; raises InvalidPolicy."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InvalidPolicy(f"route policy is not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidPolicy("route policy must be a JSON object")
    return policy_from_dict(obj)


def policy_from_dict(obj: Mapping[str, Any]) -> RoutePolicy:
    """Build and validate a policy from plain values (the `policy_to_dict` shape); raises InvalidPolicy.

    Keys other than the policy's fields are ignored; callers that want them
    rejected (a hand-written file) check first.
    """
    model = obj.get("model")
    if not isinstance(model, str):
        raise InvalidPolicy("route policy needs a string 'model'")
    if "versions" not in obj:
        raise InvalidPolicy(f"model {model!r}: 'versions' is required")
    policy = RoutePolicy(
        model=model,
        versions=tuple(VersionWeight(v, w) for v, w in _numbers(obj["versions"], "versions")),
        sticky=_flag(obj, "sticky", default=False),
        allow_pin=_flag(obj, "allow_pin", default=True),
        shadows=tuple(ShadowTarget(v, p) for v, p in _numbers(obj.get("shadows", {}), "shadows")),
        disabled=_names(obj.get("disabled", []), "disabled"),
    )
    return validate_policy(policy)


def _check_name(name: str, what: str) -> None:
    # Model and version become parts of a work-topic name, so they obey topic-name rules.
    try:
        check_name(name)
    except SchemaError:
        raise InvalidPolicy(f"invalid {what} {name!r}: use 1-100 of [A-Za-z0-9_-]") from None


def _unique(names: Iterable[str], what: str) -> frozenset[str]:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidPolicy(f"{what} lists {name!r} twice")
        seen.add(name)
    return frozenset(seen)


def _numbers(value: object, what: str) -> list[tuple[str, float]]:
    if not isinstance(value, Mapping):
        raise InvalidPolicy(f"'{what}' must map version -> number")
    out: list[tuple[str, float]] = []
    for version, number in value.items():
        # bool is an int in Python; `true` as a weight is a mistake, not 1.
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise InvalidPolicy(f"'{what}' value for {version!r} must be a number, got {number!r}")
        out.append((str(version), float(number)))
    return out


def _flag(obj: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = obj.get(name, default)
    if not isinstance(value, bool):
        raise InvalidPolicy(f"'{name}' must be true or false, got {value!r}")
    return value


def _names(value: object, what: str) -> tuple[str, ...]:
    # Bare integers are read as version names, as TOML table keys are (`disabled = [2]`).
    if not isinstance(value, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value
    ):
        raise InvalidPolicy(f"'{what}' must be a list of version names")
    return tuple(str(v) for v in value)
