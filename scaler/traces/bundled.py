"""Where the traces shipped with the package live, from a checkout or an installed wheel.

In the source tree ``scaler/traces/data`` is a symlink to ``simulations/traces``; a wheel
build copies the files it points at into the package, so ``importlib.resources`` finds
them in both cases, whatever the working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

LIGO = "ligo.csv"
"""The synthetic LIGO-like day (``simulations/traces/README.md``)."""


def bundled_traces_dir() -> Path:
    """The directory of bundled traces (a real directory: the package is never zipped)."""
    return Path(str(files("scaler.traces") / "data"))


def bundled_trace(name: str) -> Path:
    """The bundled trace file ``name`` (e.g. ``ligo.csv``); it may not exist."""
    return bundled_traces_dir() / name
