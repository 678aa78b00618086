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
    from the start; ``items_per_request[i]`` the mean batch items per request in
    that bin (1 when the trace has no size column). ``arrivals_s`` (seconds from
    the start, sorted) and ``arrival_items`` are kept when the file listed single
    requests, for the per-request ``--exact`` simulator. ``skipped`` counts rows
    left out, by stated reason.
    """

    name: str
    rps: FloatArray
    step_s: float = 1.0
    items_per_request: FloatArray | None = None
    arrivals_s: FloatArray | None = None
    arrival_items: FloatArray | None = None
    skipped: dict[str, int] = field(default_factory=dict)

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
