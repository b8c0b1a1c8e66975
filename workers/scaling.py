"""Consumer-group lag → number of worker replicas (pure decisions, clock passed in).

The rules follow KEDA's Apache Kafka scaler and the Kubernetes HPA, so a pool
scaled locally by ``inferq up`` behaves like the same thresholds rendered as a
KEDA ``ScaledObject`` (``workers/k8s.py``):

- KEDA Apache Kafka scaler (keda.sh/docs/latest/scalers/apache-kafka):
  ``lagThreshold`` is the target lag per replica, so the HPA computes
  ``ceil(total lag / lagThreshold)``; the scaler is *active* only while the
  lag is above ``activationLagThreshold`` (default 0), which is what wakes a
  deployment scaled to zero and what lets it fall back to ``minReplicaCount``;
  with ``allowIdleConsumers: false`` (the default) the replicas never exceed
  the partition count, because a consumer without a partition idles. KEDA's
  ``limitToPartitionsWithLag`` is the same cap with the number of partitions
  that have lag: pass that number as ``partitions`` to get it.
- Lag with no committed offset (KEDA's ``offsetResetPolicy``) is counted
  upstream, where offsets are read; the decision sees only the number.
- HPA scale-down stabilization (kubernetes.io, "Horizontal Pod Autoscaling",
  *Stabilization window*; KEP-853): the highest recommendation within the
  window wins, so a dip in lag does not shed replicas that the next burst
  needs; scale-up is immediate (the HPA's default scale-up window is 0).
- HPA default scale-up rate policy: per period, add at most
  ``max(100 % of current, 4 pods)``. ``max_scale_up_step`` is the ``+N`` of
  that rule and the doubling is fixed, so growth per decision is capped at
  ``max(2 * current, current + max_scale_up_step)``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

# The HPA rejects a stabilization window longer than one hour; the local
# scaler keeps the same bound so a policy renders to Kubernetes unchanged.
MAX_STABILIZATION_S = 3600.0

History = tuple[tuple[float, int], ...]
"""Past recommendations as ``(timestamp_s, replicas)``, oldest first."""


class ScalingError(ValueError):
    """A scaling input is out of range; ``field`` names it. Never retriable: the value is wrong."""

    retriable = False

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ScalingPolicyError(ScalingError):
    """A ``ScalingPolicy`` field is out of range; ``field`` is the field's name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScalingPolicy:
    """Thresholds for one model version's worker pool (KEDA ScaledObject terms).

    ``lag_threshold`` is the target lag per replica; ``activation_lag_threshold``
    the lag that must be exceeded to run any replica beyond ``min_replicas``;
    ``poll_interval_s`` how often lag is read (KEDA ``pollingInterval``).
    """

    max_replicas: int
    lag_threshold: int
    min_replicas: int = 1
    activation_lag_threshold: int = 0
    scale_down_stabilization_s: float = 30.0
    max_scale_up_step: int = 4
    poll_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.min_replicas < 0:
            raise ScalingPolicyError("min_replicas", f"must be >= 0, got {self.min_replicas}")
        if self.max_replicas < max(1, self.min_replicas):
            raise ScalingPolicyError(
                "max_replicas",
                f"must be >= max(1, min_replicas={self.min_replicas}), got {self.max_replicas}",
            )
        if self.lag_threshold < 1:
            raise ScalingPolicyError("lag_threshold", f"must be >= 1, got {self.lag_threshold}")
        if self.activation_lag_threshold < 0:
            raise ScalingPolicyError(
                "activation_lag_threshold", f"must be >= 0, got {self.activation_lag_threshold}"
            )
        if not 0.0 <= self.scale_down_stabilization_s <= MAX_STABILIZATION_S:
            raise ScalingPolicyError(
                "scale_down_stabilization_s",
                f"must be within [0, {MAX_STABILIZATION_S:g}], got {self.scale_down_stabilization_s}",
            )
        if self.max_scale_up_step < 1:
            raise ScalingPolicyError("max_scale_up_step", f"must be >= 1, got {self.max_scale_up_step}")
        # `not x > 0` also rejects NaN, which would make the poll loop spin.
        if not self.poll_interval_s > 0.0 or math.isinf(self.poll_interval_s):
            raise ScalingPolicyError(
                "poll_interval_s", f"must be a finite number > 0, got {self.poll_interval_s}"
            )


class Reason(enum.StrEnum):
    """What decided a ``ScaleDecision``'s ``desired`` value."""

    INACTIVE = "inactive"  # lag at or below the activation threshold
    LAG = "lag"  # ceil(lag / lag_threshold), within every bound
    MIN_REPLICAS = "min_replicas"
    MAX_REPLICAS = "max_replicas"
    PARTITIONS = "partitions"  # more replicas than partitions would idle
    SCALE_UP_STEP = "scale_up_step"  # growth capped for this decision
    STABILIZING = "stabilizing"  # scale-down held by the stabilization window


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    """One scaling decision, for logging and metrics; ``raw`` is before any bound."""

    model: str
    version: str
    lag: int
    partitions: int
    current: int
    raw: int
    desired: int
    reason: Reason


def raw_replicas(lag: int, policy: ScalingPolicy) -> int:
    """Replicas the lag asks for before any bound: 0 when inactive, else ceil(lag / threshold)."""
    if lag <= policy.activation_lag_threshold:
        return 0
    return -(-lag // policy.lag_threshold)


def _bounded(lag: int, partitions: int, current: int, policy: ScalingPolicy) -> tuple[int, int, Reason]:
    _check_counts(lag, partitions, current)
    raw = raw_replicas(lag, policy)
    desired, reason = raw, Reason.LAG if raw > 0 else Reason.INACTIVE
    if desired > partitions:
        desired, reason = partitions, Reason.PARTITIONS
    if desired > policy.max_replicas:
        desired, reason = policy.max_replicas, Reason.MAX_REPLICAS
    step_cap = max(2 * current, current + policy.max_scale_up_step)
    if desired > step_cap:
        desired, reason = step_cap, Reason.SCALE_UP_STEP
    # min_replicas wins over every cap, as minReplicaCount does in KEDA/HPA:
    # the operator asked for those consumers even if some would idle.
    if desired < policy.min_replicas:
        desired, reason = policy.min_replicas, Reason.MIN_REPLICAS
    return raw, desired, reason


def desired_replicas(lag: int, partitions: int, current: int, policy: ScalingPolicy) -> int:
    """Replicas for ``lag`` summed over ``partitions``, given ``current`` replicas (unstabilized).

    ``ceil(lag / lag_threshold)`` once lag exceeds the activation threshold
    (else 0), capped at the partition count, at ``max_replicas`` and at the
    scale-up step from ``current``, then raised to ``min_replicas``.
    """
    return _bounded(lag, partitions, current, policy)[1]


def stabilize(history: History, now: float, recommendation: int, window_s: float) -> tuple[int, History]:
    """Record ``recommendation`` at ``now``; return the highest one within ``window_s`` and the
    pruned history.

    HPA scale-down stabilization: recommendations older than ``now - window_s``
    are dropped (the cutoff itself is outside, as in the HPA controller) and
    the maximum of the rest wins. A new recommendation above all of them wins
    at once, so scale-up is immediate; a lower one takes effect only after
    the higher ones age out of the window.
    """
    cutoff = now - window_s
    kept = (*(entry for entry in history if entry[0] > cutoff), (now, recommendation))
    return max(replicas for _, replicas in kept), kept


def decide(
    model: str,
    version: str,
    *,
    lag: int,
    partitions: int,
    current: int,
    policy: ScalingPolicy,
    history: History,
    now: float,
) -> tuple[ScaleDecision, History]:
    """One scaler tick for a model version: bounded recommendation, then stabilization.

    As in the HPA, a held scale-down never grows the pool: it is held at
    ``min(current, highest in window)``, so an old, higher recommendation
    cannot scale up again, and never above ``max_replicas`` (a lowered maximum
    applies at once, as the HPA clamps after stabilizing).
    """
    raw, recommended, reason = _bounded(lag, partitions, current, policy)
    stabilized, history = stabilize(history, now, recommended, policy.scale_down_stabilization_s)
    desired = recommended
    if recommended < current:
        desired = min(current, stabilized, policy.max_replicas)
        if desired != recommended:
            reason = Reason.STABILIZING
    decision = ScaleDecision(
        model=model,
        version=version,
        lag=lag,
        partitions=partitions,
        current=current,
        raw=raw,
        desired=desired,
        reason=reason,
    )
    return decision, history


def _check_counts(lag: int, partitions: int, current: int) -> None:
    # Negative counts mean a bug upstream (e.g. end offset read before the
    # committed one); scaling on them would hide it.
    for name, value in (("lag", lag), ("partitions", partitions), ("current", current)):
        if value < 0:
            raise ScalingError(name, f"must be >= 0, got {value}")
