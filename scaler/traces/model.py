"""The in-memory form of a load trace, shared by the loader, the generator,
the simulator and the testbed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Trace:
    """Request load as a rate series on a regular grid, optionally with the
    individual arrivals it was binned from.

    ``rps[i]`` is the mean request rate (req/s) over [i·step_s, (i+1)·step_s)
    from the start of the trace (the start of the bin holding the first row).

    ``items_per_request[i]`` is the mean batch items per request in bin i,
    weighted by requests (``None``: every request is one item; read it through
    :attr:`items` to always get an array). It is the agreed simple form for
    mixed request kinds: a LIGO bin with 1,536 one-item online requests and 800
    batch-128 offline requests has ``rps = 2336`` and
    ``items_per_request = (1536·1 + 800·128) / 2336 ≈ 44.5``, so the item rate
    ``rps · items_per_request`` (what loads the GPUs) is exact, while the split
    into kinds is not kept. Bins without requests hold the trace's overall mean
    so the array never contains NaN.

    ``burst_fraction[i]`` (0–1, ``None``: all 0) is the share of bin i's
    requests that arrive together at the start of the bin, such as the
    frame-synchronous requests of LIGO online streams (each stream releases its
    512 requests at the 1 s frame boundary: a square wave that is flat at 1 s
    resolution). The rest arrive spread over the bin. Whether a burst queues is
    a fleet-model question, so the trace states the shape and leaves it there.

    ``indicators`` maps a leading indicator's name to its value in each bin (a
    gauge: the count at the start of the bin, e.g. a batch system's jobs that
    will soon send requests; same length as ``rps``, finite, >= 0). Empty when
    the trace has none. The simulator shows them to the scaler as Prometheus
    would (``indicator<N>Metric`` picks one by name, else by position).

    ``arrivals_s`` (seconds from the start, sorted) and ``arrival_items`` are
    kept when the file listed single requests, for the per-request ``--exact``
    simulator. ``skipped`` counts rows left out, by stated reason; ``notes``
    says how the file was read (columns, time unit, assumptions); ``warnings``
    says what looks implausible (a span of years, one request a minute) and which
    flag would fix it, for the commands to print.

    Example: ``Trace("flat", np.full(60, 10.0))`` is a minute at 10 req/s,
    600 requests.
    """

    name: str
    rps: FloatArray
    step_s: float = 1.0
    items_per_request: FloatArray | None = None
    arrivals_s: FloatArray | None = None
    arrival_items: FloatArray | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    burst_fraction: FloatArray | None = None
    notes: tuple[str, ...] = ()
    indicators: dict[str, FloatArray] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.step_s > 0:
            raise ValueError(f"step_s must be > 0, got {self.step_s}")
        if self.rps.ndim != 1:
            raise ValueError(f"rps must be one-dimensional, got shape {self.rps.shape}")
        if len(self.rps) and not (np.isfinite(self.rps).all() and self.rps.min() >= 0):
            raise ValueError("rps must be finite and >= 0")
        for name in ("items_per_request", "burst_fraction"):
            values: FloatArray | None = getattr(self, name)
            if values is not None and values.shape != self.rps.shape:
                raise ValueError(f"{name} has shape {values.shape}, rps has shape {self.rps.shape}")
        for name, values in self.indicators.items():
            if values.shape != self.rps.shape:
                raise ValueError(
                    f"indicator {name!r} has shape {values.shape}, rps has shape {self.rps.shape}"
                )
            if len(values) and not (np.isfinite(values).all() and values.min() >= 0):
                raise ValueError(f"indicator {name!r} must be finite and >= 0")
        if self.burst_fraction is not None and len(self.burst_fraction):
            bf = self.burst_fraction
            if not (bf.min() >= 0 and bf.max() <= 1):
                raise ValueError("burst_fraction must lie in [0, 1]")
        if (
            self.arrivals_s is not None
            and self.arrival_items is not None
            and self.arrival_items.shape != self.arrivals_s.shape
        ):
            raise ValueError("arrival_items must have one value per arrival")

    @property
    def duration_s(self) -> float:
        return float(len(self.rps) * self.step_s)

    @property
    def requests(self) -> float:
        return float(self.rps.sum() * self.step_s)

    @property
    def mean_rps(self) -> float:
        return float(self.rps.mean()) if len(self.rps) else 0.0

    @property
    def peak_rps(self) -> float:
        return float(self.rps.max()) if len(self.rps) else 0.0

    @property
    def items(self) -> FloatArray:
        """Mean items per request in each bin (ones when the trace has no sizes)."""
        if self.items_per_request is None:
            return np.ones_like(self.rps)
        return self.items_per_request

    @property
    def bursts(self) -> FloatArray:
        """Share of each bin's requests arriving together at its start (zeros if unknown)."""
        if self.burst_fraction is None:
            return np.zeros_like(self.rps)
        return self.burst_fraction

    @property
    def items_per_s(self) -> FloatArray:
        """Item rate (batch items/s) in each bin: what the servers actually compute."""
        return self.rps * self.items

    @property
    def times_s(self) -> FloatArray:
        """Start of each bin, seconds from the start of the trace."""
        return np.arange(len(self.rps), dtype=np.float64) * self.step_s
