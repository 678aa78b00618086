"""Write a trace as a compact rate-series CSV that :func:`load_trace` reads back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scaler.traces.model import FloatArray, Trace

DECIMALS = 3
INDICATOR_PREFIX = "indicator_"
"""Columns of leading indicators are named ``indicator_<name>`` (read back by the loader)."""


def write_trace_csv(trace: Trace, path: str | Path) -> None:
    """Write ``time_s,rps,items_per_request[,burst_fraction][,indicator_<name>…]``,
    one row per bin (leading indicators as ``indicator_<name>`` columns).

    Values are rounded to 3 decimals with trailing zeros dropped (``1536``,
    ``44.482``), which keeps a day at 1 s near 2 MB and requests exact for
    integer counts. ``burst_fraction`` is written only when the trace has it.
    Per-request arrivals are not written: the file is the binned series.
    """
    columns: list[tuple[str, FloatArray]] = [
        ("time_s", trace.times_s),
        ("rps", trace.rps),
        ("items_per_request", trace.items),
    ]
    if trace.burst_fraction is not None:
        columns.append(("burst_fraction", trace.burst_fraction))
    columns += [(f"{INDICATOR_PREFIX}{name}", v) for name, v in trace.indicators.items()]
    texts = [_format(values) for _, values in columns]
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        out.write(",".join(name for name, _ in columns) + "\n")
        out.writelines(",".join(row) + "\n" for row in zip(*texts, strict=True))


def _format(values: FloatArray) -> list[str]:
    rounded = np.round(values, DECIMALS) + 0.0
    return [f"{v:.{DECIMALS}f}".rstrip("0").rstrip(".") for v in rounded.tolist()]
