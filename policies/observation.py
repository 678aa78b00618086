"""What a policy sees: one snapshot of a Triton fleet's signals at a point in time.

Every signal is optional: ``None`` means the metric was absent (for example no
Triton replica is running, or Prometheus returned an empty result). NaN and Inf
are kept as they came so that the pipeline, not the adapter, decides to hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

SIGNAL_FIELDS: tuple[str, ...] = (
    "request_rate_rps",
    "queue_time_per_request_ms",
    "queue_time_per_exec_ms",
    "pending_requests",
    "gpu_utilization",
    "activation_rps",
    "items_per_s",
    "execs_per_s",
    "compute_time_per_request_ms",
)


@dataclass(frozen=True, slots=True)
class Observation:
    """A snapshot of the fleet as Prometheus (or the simulator) shows it.

    Units are in the names: ``_rps`` requests per second, ``_ms`` milliseconds,
    ``gpu_utilization`` a busy fraction 0–1, ``time_s`` seconds since the epoch
    (or since the start of a simulation) at which the values were true.
    """

    time_s: float
    ready_replicas: int
    desired_replicas: int | None = None
    request_rate_rps: float | None = None
    queue_time_per_request_ms: float | None = None
    queue_time_per_exec_ms: float | None = None
    pending_requests: float | None = None
    gpu_utilization: float | None = None
    activation_rps: float | None = None
    """Request rate seen in front of the fleet (e.g. at the Envoy proxy): the only
    signal that exists at zero replicas, so it is what wakes a fleet from 0."""
    items_per_s: float | None = None
    """Batch items completed per second (Triton's ``nv_inference_count``): the work,
    where a batch-128 request counts 128."""
    execs_per_s: float | None = None
    """Batch executions per second (``nv_inference_exec_count``)."""
    compute_time_per_request_ms: float | None = None
    """Mean GPU compute time per request, ms (``nv_inference_compute_infer_duration_us``
    over request successes): the execution time of the batch each request rode in."""
    indicators: tuple[float | None, ...] = ()
    """Leading indicators, in the order the ScaledObject lists them (``indicator1…``):
    counts of client work that will soon send requests, such as a batch system's
    pending or running jobs. Units are the indicator's own (jobs); ``None`` where the
    series was absent. Empty when none is configured."""

    no_series: bool = False
    """True when the metrics source matched no series at all for this fleet: every
    query came back empty. At zero replicas with no activation metric that is
    normal; otherwise it is a misconfiguration (a wrong ``release`` label) that
    must not read as "no load"."""

    def value(self, name: str) -> float | None:
        """The named signal, or None if absent."""
        v: float | None = getattr(self, name)
        return v

    def is_usable(self, name: str) -> bool:
        """True if the named signal is present and finite."""
        v = self.value(name)
        return v is not None and math.isfinite(v)

    def indicator(self, index: int) -> float | None:
        """Leading indicator ``index`` (0-based), or None if absent, not finite or not set."""
        if index >= len(self.indicators):
            return None
        v = self.indicators[index]
        return v if v is not None and math.isfinite(v) else None

    def as_dict(self) -> dict[str, float | int | None]:
        """Plain mapping of every field, for logs and the decision record; leading
        indicators are flattened to ``indicator1``, ``indicator2``…"""
        out: dict[str, float | int | None] = {name: getattr(self, name) for name in _DICT_FIELDS}
        for i, v in enumerate(self.indicators, start=1):
            out[f"indicator{i}"] = v
        return out


_DICT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Observation) if f.name != "indicators")
"""The fields :meth:`Observation.as_dict` copies (read once, not on every call)."""
