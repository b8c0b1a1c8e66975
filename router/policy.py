"""Pure routing decisions: which version serves a request, which versions get shadow copies.

A `RoutePolicy` is compiled once per change into a `CompiledPolicy`, so that
the per-request call is a set lookup, a CRC-32 and a tuple index (sticky), or
a bisect over a handful of floats (weighted random).

Sticky assignment. A key's bucket is ``zlib.crc32(key) % 10_000`` (CRC-32 as
in zlib and java.util.zip, so any language can reproduce it; it is part of the
stickiness contract and must never change). The enabled versions with a
positive weight are laid out in version order (all-digit versions
numerically, then the others by name; the order the policy lists them in does
not matter) and each owns one contiguous range of buckets, sized by its share
of the total weight. What this guarantees when weights change:

- A version whose share grows keeps every bucket it had: its range only
  widens (both ends are ``round(10_000 * cumulative share)``, monotone in the
  weights). So growing a canary never moves a key *out* of the canary.
- With two versions there is a single boundary, so every key that moves,
  moves into the version that grew: exactly the minimal reshuffle.
- With three or more versions, the ranges of the other versions slide when
  one grows, so a few keys move *between* the other versions (e.g. 1/2/3 at
  45/45/10 -> 40/40/20 moves 5 % of keys from 1 to 2 as well as 10 % from 2
  to 3). Weighted rendezvous hashing would avoid that at k hashes per
  request; the table lookup is chosen for cost.

Pins. When the policy allows pins, a pinned version wins if the policy lists
it in `versions` (weight 0 included: that is how a version is made reachable
only by pin) and it is not disabled; any other pin raises UnknownVersion.
When pins are not allowed, the pin is ignored and the request is routed as
if it carried none (the app asked for a preference, the operator overrides).
"""

from __future__ import annotations

import zlib
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate, chain, pairwise, repeat
from types import MappingProxyType

from schemas.routes import (
    InvalidPolicy,
    RoutePolicy,
    UnknownModel,
    UnknownVersion,
    VersionWeight,
    validate_policy,
)

BUCKETS = 10_000


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A validated policy with its lookup tables; build it with `compile_policy`."""

    policy: RoutePolicy
    sticky: bool
    allow_pin: bool
    pinnable: frozenset[str]
    versions: tuple[str, ...]
    """Enabled versions with a positive weight, in bucket-layout order."""
    cumulative: tuple[float, ...]
    """Upper bound of each of `versions`' share of [0, 1); the last is exactly 1.0."""
    buckets: tuple[str, ...]
    """The version owning each of the BUCKETS sticky buckets; empty when not sticky."""
    shadows: tuple[tuple[str, float], ...]
    """(version, fraction of requests) of enabled shadows, largest fraction first."""


def bucket_of(key: bytes) -> int:
    """The sticky bucket of a record key."""
    return zlib.crc32(key) % BUCKETS


def compile_policy(policy: RoutePolicy) -> CompiledPolicy:
    """Validate a policy (InvalidPolicy) and precompute its per-request lookup tables."""
    validate_policy(policy)
    disabled = frozenset(policy.disabled)
    live = sorted(
        (v for v in policy.versions if v.version not in disabled and v.weight > 0),
        key=lambda v: _version_order(v.version),
    )
    total = sum(v.weight for v in live)
    sums = list(accumulate(v.weight for v in live))
    cumulative = (*(s / total for s in sums[:-1]), 1.0)
    buckets: tuple[str, ...] = ()
    if policy.sticky:
        # One division per bound keeps each bound monotone in the weights (see module doc).
        bounds = [0, *(round(s * BUCKETS / total) for s in sums[:-1]), BUCKETS]
        sizes = (hi - lo for lo, hi in pairwise(bounds))
        buckets = tuple(chain.from_iterable(repeat(v.version, n) for v, n in zip(live, sizes, strict=True)))
    shadows = sorted(
        ((s.version, s.percent / 100) for s in policy.shadows if s.version not in disabled and s.percent > 0),
        key=lambda s: -s[1],
    )
    return CompiledPolicy(
        policy=policy,
        sticky=policy.sticky,
        allow_pin=policy.allow_pin,
        pinnable=frozenset(v.version for v in policy.versions) - disabled,
        versions=tuple(v.version for v in live),
        cumulative=cumulative,
        buckets=buckets,
        shadows=tuple(shadows),
    )


def choose_version(policy: CompiledPolicy, key: bytes | None, pinned: str | None, rand: float) -> str:
    """The version that serves a request; `rand` is a uniform draw in [0, 1).

    Order: an allowed pin; else, for a sticky policy and a keyed record, the
    key's bucket; else `rand` over the weights. Raises UnknownVersion for a
    pin the policy does not serve.
    """
    if pinned is not None and policy.allow_pin:
        if pinned in policy.pinnable:
            return pinned
        raise UnknownVersion(f"model {policy.policy.model!r} does not serve version {pinned!r}")
    if key is not None and policy.sticky:
        return policy.buckets[zlib.crc32(key) % BUCKETS]
    return policy.versions[bisect_right(policy.cumulative, rand)]


def shadow_versions(policy: CompiledPolicy, rand: float, *, primary: str | None = None) -> tuple[str, ...]:
    """The shadow versions that get a copy of this request; `rand` is a uniform draw in [0, 1).

    A shadow at p % gets a copy when ``rand < p / 100``. One draw serves all
    shadows, so samples nest: a request copied to a 5 % shadow is also copied
    to every shadow at >= 5 %; each shadow still sees its own percentage. Pass
    a draw independent of the one given to `choose_version`. `primary`, the
    version that serves the request, never also gets a shadow copy.
    """
    if not policy.shadows:
        return ()
    out: list[str] = []
    for version, fraction in policy.shadows:
        if rand >= fraction:
            break
        if version != primary:
            out.append(version)
    return tuple(out)


def _no_policies() -> Mapping[str, CompiledPolicy]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RouteTable:
    """The compiled policies by model; `revision` grows with every change applied."""

    policies: Mapping[str, CompiledPolicy] = field(default_factory=_no_policies)
    revision: int = 0


def apply_update(table: RouteTable, model: str, policy: RoutePolicy | None) -> RouteTable:
    """The table with `model`'s policy replaced, or removed when `policy` is None (a tombstone).

    Raises InvalidPolicy, leaving `table` as it was, for a policy that cannot
    route or that names another model. An update that changes nothing returns
    `table` itself, revision unchanged.
    """
    current = table.policies.get(model)
    if policy is None:
        if current is None:
            return table
        remaining = {m: c for m, c in table.policies.items() if m != model}
        return RouteTable(MappingProxyType(remaining), table.revision + 1)
    if policy.model != model:
        raise InvalidPolicy(f"policy for model {policy.model!r} was published under key {model!r}")
    if current is not None and current.policy == policy:
        return table
    compiled = compile_policy(policy)
    return RouteTable(MappingProxyType({**table.policies, model: compiled}), table.revision + 1)


def resolve(
    table: RouteTable,
    model: str,
    *,
    default_versions: Callable[[str], tuple[str, ...]] | None = None,
) -> CompiledPolicy:
    """The policy routing `model`'s requests.

    A model without a policy that the model repository holds routes to its
    newest version (`default_versions` returns the repository's versions,
    newest last), with every repository version pinnable. Raises UnknownModel
    otherwise.
    """
    compiled = table.policies.get(model)
    if compiled is not None:
        return compiled
    versions = default_versions(model) if default_versions is not None else ()
    if not versions:
        raise UnknownModel(f"no route policy and no model repository entry for model {model!r}")
    return _default_policy(model, tuple(versions))


@lru_cache(maxsize=1024)
def _default_policy(model: str, versions: tuple[str, ...]) -> CompiledPolicy:
    # Cached: resolve runs per request and the repository's version list rarely changes.
    weights = (*(VersionWeight(v, 0.0) for v in versions[:-1]), VersionWeight(versions[-1], 1.0))
    return compile_policy(RoutePolicy(model=model, versions=weights))


def _version_order(version: str) -> tuple[int, int, str]:
    if version.isdigit():
        return (0, int(version), version)
    return (1, 0, version)
