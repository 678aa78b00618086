"""What Prometheus would show the scaler, computed from the fleet's per-step output.

Prometheus scrapes Triton every ``scrape_interval_s``; a query at ``now_s`` sees
only samples scraped at or before it. A counter sampled at time s holds every
completion of the steps before s (Triton's counters grow only when requests
finish, so a surge shows up late). ``rate()`` over a window is the increase
between the first and last sample inside it divided by their distance (no
extrapolation). Gauges (pending requests, GPU busy fraction, ready replicas) are
read at the last scrape. A replica that became ready less than ``discovery_delay_s``
ago is not a scrape target yet, so the ready count lags a scale-up by that much, and
its Triton counters enter the rates only from its first scrape on: Prometheus's
``rate()`` counts a series' increase between its own samples, so what a new replica
served before it was discovered never reaches the rate (measured on the testbed: for
a few seconds after a new replica is seen, the fleet's rate per ready replica dips,
and the HPA reads the dip).

Scrapes fall at ``scrape_offset_s + k × scrape_interval_s`` (Prometheus sets a
target's phase from a hash of its labels, so relative to a trace's start it is
arbitrary; exact mode draws it per seed). A scrape between two step boundaries reads
the counters as if each step's completions were spread evenly over it.

Signals match the PromQL the server uses (triton-metrics.md, supersonic-baseline.md):
queue time per request = rate(queue_duration) / rate(request_success), 0 when no
request completed in the window; per execution = SuperSONIC's
rate(queue_duration) / (rate(exec_count) × 1000 + 0.001); items and executions per
second are rates of Triton's inference and execution counts, and compute time per
request = rate(compute_infer_duration) / rate(request_success). With no ready replica
the Triton series vanish (None); only the proxy's arrival rate remains.
"""

from __future__ import annotations

import math

import numpy as np

from policies import Observation
from scaler.indicator_metadata import IndicatorQuery
from scaler.sim.fleet import StepOutputs
from scaler.traces.model import FloatArray, Trace

_COUNTED = ("arrivals", "success", "queue_ms", "execs", "items", "compute_ms")
"""The counters a query sums over its window (arrivals first: the proxy's, always
scraped; the rest are the replicas' Triton counters)."""


class PrometheusModel:
    """Scrapes of one fleet's :class:`StepOutputs`; ``observe`` is a query at ``now_s``."""

    def __init__(
        self,
        outputs: StepOutputs,
        *,
        step_s: float = 1.0,
        scrape_interval_s: float = 5.0,
        rate_window_s: float = 30.0,
        discovery_delay_s: float = 0.0,
        indicators: tuple[FloatArray, ...] = (),
        scrape_offset_s: float = 0.0,
    ) -> None:
        if not 0.0 <= scrape_offset_s < scrape_interval_s:
            raise ValueError(
                f"scrape_offset_s must be in [0, scrape_interval_s = {scrape_interval_s:g}), "
                f"got {scrape_offset_s:g}"
            )
        self.o = outputs
        self.offset_s = scrape_offset_s
        self.indicators = indicators
        self.step_s = step_s
        self.scrape_s = scrape_interval_s
        self.window_s = rate_window_s
        self.discovery_s = discovery_delay_s
        self._k = math.floor(rate_window_s / scrape_interval_s - 1e-9)
        """Scrape intervals a rate window spans (its first sample is this many back)."""

    def _step(self, t: float) -> int:
        """Index in the fleet's arrays of the step starting at ``t`` (they may hold
        only a window of recent steps, from ``base``)."""
        total = self.o.total if self.o.total >= 0 else len(self.o.arrivals)
        return min(round(t / self.step_s), total) - self.o.base

    def _ready_seen(self, last: float, i1: int) -> int:
        """Replicas Prometheus scrapes at ``last``: a replica ready less than
        ``discovery_s`` ago is not a target yet; one gone is gone at once."""
        o = self.o
        ready = int(o.ready[i1 - 1]) if i1 > 0 else 0
        if self.discovery_s <= 0 or ready == 0:
            return ready
        j = max(self._step(max(last - self.discovery_s, 0.0)), 0)
        return min(ready, int(o.ready[j - 1]) if j > 0 else ready)

    def _scraped_share(self, i0: int, i1: int) -> FloatArray | None:
        """Per step of [i0, i1): the share of the fleet's completions made by replicas
        Prometheus was scraping by then (completions split evenly over the ready
        replicas, as least-request routing spreads them); None when every replica was
        (the usual case, and the sums are then taken as they are)."""
        if self.discovery_s <= 0 or i1 <= i0:
            return None
        k = max(math.ceil(self.discovery_s / self.step_s - 1e-9), 1)
        ready = self.o.ready
        lo = i0 - k
        seg = ready[max(lo, 0) : i1]
        if not (seg[1:] > seg[:-1]).any():
            return None  # no replica became ready: every one serving was scraped
        now = ready[i0:i1]
        before = ready[max(lo, 0) : i1 - k] if i1 - k > 0 else ready[:0]
        if lo < 0:
            # Steps before the kept window (or the run): count those replicas as seen.
            before = np.concatenate((now[: min(-lo, len(now))], before))
        seen = np.minimum(now, before)
        if np.array_equal(seen, now):
            return None
        share: FloatArray = np.divide(seen, now, out=np.ones_like(now), where=now > 0)
        return share

    def _between(self, first: float, last: float, total: int) -> tuple[list[float], int]:
        """Counter increases from the scrape at ``first`` to the one at ``last`` when
        they fall inside steps (a scrape offset): the steps they cut count for the part
        before (``last``) or after (``first``) the scrape. Returns the increases in
        :meth:`StepOutputs.sums` order and the index just past the step holding
        ``last`` (where the gauges are read)."""
        o = self.o
        a, b = first / self.step_s, last / self.step_s
        j0 = min(math.floor(a + 1e-9), total)
        j1 = min(max(math.ceil(b - 1e-9), j0), total)
        w = np.ones(j1 - j0)
        if j1 > j0:
            w[0] -= a - j0
            w[-1] -= j1 - b
        i0, i1 = j0 - o.base, j1 - o.base
        rows = [getattr(o, f)[i0:i1] for f in _COUNTED]
        share = self._scraped_share(i0, i1)
        scraped = w if share is None else w * share
        sums = [float(rows[0] @ w), *(float(r @ scraped) for r in rows[1:])]
        return sums, i1

    def observe(self, now_s: float, desired_replicas: int | None = None) -> Observation | None:
        """The query result at ``now_s``; None before two scrapes exist."""
        # Runs at every decision: the scrape times and steps are worked out inline.
        scrape = self.scrape_s
        off = self.offset_s
        last = math.floor((now_s - off) / scrape + 1e-9) * scrape + off
        first = max(last - self._k * scrape, 0.0)
        span = last - first
        if span <= 0:
            return None
        o = self.o
        total = o.total if o.total >= 0 else len(o.arrivals)
        step_s = self.step_s
        if off:
            (arrivals, success, queue_ms, execs, items, compute_ms), i1 = self._between(
                first, last, total
            )
        else:
            i0 = min(round(first / step_s), total) - o.base
            i1 = min(round(last / step_s), total) - o.base
            arrivals, success, _, queue_ms, execs, _, _, _, items, compute_ms = o.sums(i0, i1)
            share = self._scraped_share(i0, i1)
            if share is not None:
                success, queue_ms, execs, items, compute_ms = (
                    float(getattr(o, f)[i0:i1] @ share)
                    for f in ("success", "queue_ms", "execs", "items", "compute_ms")
                )
        activation = arrivals / span
        ready = self._ready_seen(last, i1)
        gauges = (
            tuple(float(v[min(int(last / step_s + 1e-9), len(v) - 1)]) for v in self.indicators)
            if self.indicators
            else ()
        )
        if ready == 0:
            return Observation(
                time_s=last,
                ready_replicas=0,
                desired_replicas=desired_replicas,
                activation_rps=activation,
                indicators=gauges,
            )
        if i1 > 0:
            serving = max(int(o.ready[i1 - 1]), 1)
            busy = float(o.busy_s[i1 - 1]) / (serving * step_s)
        else:
            busy = 0.0
        success_rps = success / span
        queue_rate = queue_ms / span
        return Observation(
            time_s=last,
            ready_replicas=ready,
            desired_replicas=desired_replicas,
            request_rate_rps=success_rps,
            queue_time_per_request_ms=queue_rate / success_rps if success_rps > 0 else 0.0,
            queue_time_per_exec_ms=queue_rate / (execs / span + 1e-6),
            pending_requests=float(o.pending[i1 - 1]),
            gpu_utilization=min(max(busy, 0.0), 1.0),
            activation_rps=activation,
            items_per_s=items / span,
            execs_per_s=execs / span,
            compute_time_per_request_ms=(compute_ms / span) / success_rps
            if success_rps > 0
            else 0.0,
            indicators=gauges,
        )


def indicator_series(trace: Trace, queries: tuple[IndicatorQuery, ...]) -> tuple[FloatArray, ...]:
    """The trace's indicator column for each configured indicator: the column named
    like the indicator's metric if there is one, else the one in the same position.
    Raises ValueError naming the key when the trace has too few indicator columns."""
    columns = list(trace.indicators)
    out = []
    for i, q in enumerate(queries):
        name = q.selector.metric if q.selector.metric in trace.indicators else None
        if name is None and i < len(columns):
            name = columns[i]
        if name is None:
            have = ", ".join(columns) or "none"
            raise ValueError(
                f"indicator{q.number}Metric={q.selector.text()!r}: the trace has no indicator "
                f"column for it (its indicator columns: {have})"
            )
        out.append(trace.indicators[name])
    return tuple(out)
