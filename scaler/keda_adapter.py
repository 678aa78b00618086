"""What KEDA reads from a decision: the one mapping from :class:`policies.Decision` to
the external-scaler protocol's answers, pure (time is an argument).

The gRPC service answers with it, the simulator's scaler model hands its result to the
modelled KEDA and HPA, and the testbed actuator reads the real server's answers through
:func:`keda_reads` (KEDA's own rule for a ``MetricValue``). So a decision becomes the
same number, the same activity and the same error everywhere.

* ``GetMetrics``: the decision's value rounded to :data:`VALUE_DECIMALS` decimals
  (``metricValueFloat``; ``metricValue`` is its ceiling) against a constant target of
  1 (``AverageValue``), so the HPA asks for ceil(value) outside its tolerance.
* ``IsActive``: the decision's activity, false when it failed.
* Errors: a FAIL decision, or one older than ``failAfterSeconds`` plus two refresh
  intervals (the refresh loop is stuck), is ``UNAVAILABLE``: KEDA counts a failure and
  its ``fallback`` takes over; the HPA keeps its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from policies import Decision, Status, ceil_replicas

METRIC_NAME = "sonic-desired-replicas"
"""The one metric of every ScaledObject (its target is :data:`TARGET`)."""

TARGET = 1.0
"""``targetSizeFloat``: the value is a replica count, so one replica per unit."""

VALUE_DECIMALS = 3
"""KEDA turns the value into a milli-quantity: more decimals would be dropped anyway."""

NOT_READY = "first decision not ready yet (metrics being read)"
"""The error while an object has no decision yet (the server's first-decision wait ran
out): KEDA counts a failure, as for any other error."""

STALE_REFRESHES = 2
"""A decision older than ``failAfterSeconds`` plus this many refresh intervals means the
refresh loop itself is stuck: answer with an error rather than an old number."""


@dataclass(frozen=True, slots=True)
class KedaView:
    """What KEDA sees at one moment: ``value`` (GetMetrics; None when the RPCs error),
    ``active`` (IsActive) and ``error`` (the UNAVAILABLE message, or None)."""

    value: float | None
    active: bool
    error: str | None = None

    def metric(self) -> tuple[float, int]:
        """GetMetrics' ``(metricValueFloat, metricValue)``; only for a view without an
        error (the RPC errors instead)."""
        if self.value is None:
            raise ValueError(f"no metric value: {self.error}")
        return self.value, metric_int(self.value)


def metric_value(decision: Decision) -> float:
    """``metricValueFloat``: the decision's value rounded to :data:`VALUE_DECIMALS`."""
    return round(decision.value, VALUE_DECIMALS)


def metric_int(value: float) -> int:
    """``metricValue`` (the integer field) for a ``metricValueFloat``."""
    return ceil_replicas(value)


def is_active(decision: Decision) -> bool:
    """IsActive: the decision's activity; a failed decision is never active."""
    return decision.active and decision.status is not Status.FAIL


def problem(
    decision: Decision, *, now_s: float, fail_after_s: float, refresh_interval_s: float
) -> str | None:
    """Why GetMetrics/IsActive answer ``UNAVAILABLE`` for this decision, or None."""
    if decision.status is Status.FAIL:
        return decision.reason
    age = now_s - decision.time_s
    if age > fail_after_s + STALE_REFRESHES * refresh_interval_s:
        return f"last decision is {age:.0f} s old (> {fail_after_s:.0f} s)"
    return None


def keda_view(
    decision: Decision | None, *, now_s: float, fail_after_s: float, refresh_interval_s: float
) -> KedaView:
    """What KEDA reads at ``now_s`` when ``decision`` is the latest one (None: no
    decision yet, an error as the server's first-decision wait that runs out)."""
    if decision is None:
        return KedaView(None, False, NOT_READY)
    why = problem(
        decision, now_s=now_s, fail_after_s=fail_after_s, refresh_interval_s=refresh_interval_s
    )
    if why is not None:
        return KedaView(None, False, why)
    return KedaView(metric_value(decision), is_active(decision))


def hpa_input(
    view: KedaView, decision: Decision | None, metric_type: Literal["AverageValue", "Value"]
) -> tuple[float | None, float]:
    """What the HPA gets: (metric, target); metric None when the scaler errors (the HPA
    keeps its size). ``AverageValue`` (this scaler): the view's value against
    :data:`TARGET`. ``Value`` models KEDA's *Prometheus* trigger (SuperSONIC's), which
    hands over its query result and threshold: the decision's signal and target."""
    if view.error is not None or decision is None:
        return None, TARGET
    if metric_type == "AverageValue":
        return view.value, TARGET
    if decision.signal is None or decision.target is None:
        return None, TARGET
    return decision.signal, decision.target


def keda_reads(value_float: float, value_int: int) -> float:
    """The number KEDA takes from one ``MetricValue``: the float when positive, else the
    integer (``pkg/scalers/external_scaler.go``), as a milli-quantity."""
    value = value_float if value_float > 0 else float(value_int)
    return round(value, VALUE_DECIMALS)
