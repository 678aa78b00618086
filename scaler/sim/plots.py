"""Self-contained HTML pages with plotly figures, for ``scaler simulate --report`` and the
policy benchmark: the same plotting library as the dashboard, its JavaScript inlined
from the installed ``plotly`` package (the file the dashboard serves), so a page opens
offline and from an e-mail attachment alike.

Every figure has axis titles with units and its legend inside the plotting frame
(top left, on a translucent background; the Pareto figure's beside its plotting
area, where it hides no run's point), so nothing is cut off at any width.
"""

from __future__ import annotations

import html
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scaler.traces.model import FloatArray

PLOT_POINTS = 1500
"""Points per time series: a week at 1 s is bucketed to this many (max per bucket)."""

COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)


def plotly_js_path() -> Path | None:
    """plotly.min.js inside the installed plotly package, if there is one (the file the
    dashboard serves and the reports inline)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def plotly_js() -> str:
    """The text of :func:`plotly_js_path`; a stub that says what is missing without it."""
    path = plotly_js_path()
    if path is None:
        return "document.write('plotly is not installed: pip install plotly');"
    return path.read_text(encoding="utf-8")


def bucket(y: FloatArray, how: str = "max", points: int = PLOT_POINTS) -> tuple[int, FloatArray]:
    """(bucket size in steps, ``y`` reduced to at most ``points`` buckets by max or mean)."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) <= points:
        return 1, y
    size = int(np.ceil(len(y) / points))
    pad = (-len(y)) % size
    fill = np.nan if pad else 0.0
    blocks = np.concatenate([y, np.full(pad, fill)]).reshape(-1, size)
    with np.errstate(all="ignore"):
        out = np.nanmax(blocks, axis=1) if how == "max" else np.nanmean(blocks, axis=1)
    return size, np.asarray(out, dtype=np.float64)


def time_series(
    y: FloatArray, step_s: float, how: str = "max"
) -> tuple[list[float], list[float | None]]:
    """(x in hours, y) for a per-step series, bucketed; non-finite values become gaps."""
    size, v = bucket(y, how)
    x = (np.arange(len(v)) * size * step_s / 3600.0).round(5).tolist()
    # NumPy's rounding of the whole array: what round() of each NumPy float does.
    with np.errstate(all="ignore"):
        rounded = v.round(4).tolist()
    finite = np.isfinite(v).tolist()
    return x, [a if ok else None for a, ok in zip(rounded, finite, strict=True)]


def layout(
    title: str,
    x_title: str,
    y_title: str,
    *,
    y_log: bool = False,
    height: int = 340,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """A plotly layout: titled axes (with units in ``x_title``/``y_title``), the legend
    inside the frame at the top left."""
    out: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        "height": height,
        "margin": {"l": 70, "r": 20, "t": 40, "b": 55},
        "xaxis": {"title": {"text": x_title}, "showline": True, "mirror": True},
        "yaxis": {
            "title": {"text": y_title},
            "type": "log" if y_log else "linear",
            "showline": True,
            "mirror": True,
        },
        "legend": {
            "x": 0.01,
            "y": 0.99,
            "xanchor": "left",
            "yanchor": "top",
            "bgcolor": "rgba(255,255,255,0.8)",
            "bordercolor": "#bbb",
            "borderwidth": 1,
            "font": {"size": 11},
        },
        "hovermode": "closest",
        "template": "plotly_white",
    }
    if not y_log and y_range is None:
        out["yaxis"]["rangemode"] = "tozero"
    if x_range is not None:
        out["xaxis"]["range"] = list(x_range)
    if y_range is not None:
        out["yaxis"]["range"] = list(y_range)
    return out


@dataclass
class Figure:
    """One plotly figure: traces (plotly's dicts) and a layout from :func:`layout`."""

    data: list[dict[str, Any]]
    layout: dict[str, Any]


@dataclass
class Page:
    """An HTML page built from headings, paragraphs, tables and figures, in order."""

    title: str
    parts: list[str | Figure] = field(default_factory=list)

    def add(self, part: str | Figure) -> None:
        self.parts.append(part)

    def render(self) -> str:
        body, scripts = [], []
        for i, part in enumerate(self.parts):
            if isinstance(part, Figure):
                div = f"fig{i}"
                body.append(f'<div id="{div}" class="fig"></div>')
                spec = json.dumps({"data": part.data, "layout": part.layout}, allow_nan=False)
                scripts.append(
                    f"(function(){{var f={spec};Plotly.newPlot('{div}',f.data,f.layout,"
                    "{responsive:true,displaylogo:false});})();"
                )
            else:
                body.append(part)
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title>"
            f"<style>{_CSS}</style>"
            f"<script>{plotly_js()}</script></head><body>"
            + "\n".join(body)
            + "<script>"
            + "\n".join(scripts)
            + "</script></body></html>\n"
        )


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:20px;max-width:1200px}"
    "table{border-collapse:collapse;margin:8px 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}"
    "th{background:#f4f4f4}"
    ".fig{width:100%;margin:10px 0}"
    ".rec{border:2px solid #2ca02c;padding:8px 14px;background:#f3fbf3}"
    ".miss{border-color:#d62728;background:#fdf3f3}"
    "pre{background:#f6f6f6;padding:8px;overflow-x:auto}"
    "dt{font-weight:bold;margin-top:4px}dd{margin-left:18px}"
)


def table_html(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; every cell is escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def definitions_html(terms: dict[str, str]) -> str:
    """A definition list (term: meaning), escaped."""
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in terms.items())
    return f"<dl>{items}</dl>"


@dataclass
class ParetoSeries:
    """Points of one family on a GPU-hours / SLO-attainment plane: ``gpu_hours`` and
    ``attainment`` (0–1) per point, a hover label each; ``line``: join them in order of
    GPU-hours (a sweep or frontier) rather than scatter them."""

    name: str
    gpu_hours: list[float]
    attainment: list[float]
    labels: list[str]
    line: bool = False
    symbol: str = "circle"


MISS_FLOOR_PCT = 1e-3
"""Misses below this share (%) are drawn at it: the top of the attainment axis."""

_NINES: tuple[tuple[float, str], ...] = (
    (100.0, "0 %"),
    (50.0, "50 %"),
    (10.0, "90 %"),
    (5.0, "95 %"),
    (1.0, "99 %"),
    (0.5, "99.5 %"),
    (0.1, "99.9 %"),
    (0.01, "99.99 %"),
    (MISS_FLOOR_PCT, "100 %"),
)
"""Tick positions (share of requests missing the SLO, %) and their attainment labels."""


def _miss_pct(attainment: float) -> float:
    return max(100.0 - attainment * 100.0, MISS_FLOOR_PCT)


def pareto_figure(
    title: str,
    series: list[ParetoSeries],
    *,
    oracle_gpu_hours: float,
    target: float,
    height: int = 420,
) -> Figure:
    """GPU-hours (x, log scale) against SLO attainment (y): every family, the oracle as a
    dashed vertical line up to 100 %, the target as a dotted horizontal line. The y axis
    is labelled in attainment but spaced by the share of requests *missing* the SLO on
    a log scale, so 99 %, 99.5 % and 99.9 % are as far apart as 50 % and 90 % (a linear
    axis would crush everything that matters into its top millimetre). Up and to the
    left is better; a point up and to the left of another dominates it. The legend sits
    beside the plotting area, inside the figure: any corner of the area can hold a run's
    point (a dominated run sits at the bottom right), and a legend over it hid it."""
    data: list[dict[str, Any]] = []
    misses: list[float] = [_miss_pct(target)]
    xs: list[float] = [oracle_gpu_hours] if oracle_gpu_hours > 0 else []
    for i, s in enumerate(series):
        order = sorted(range(len(s.gpu_hours)), key=lambda j: s.gpu_hours[j])
        x = [float(s.gpu_hours[j]) for j in order]
        y = [_miss_pct(float(s.attainment[j])) for j in order]
        xs += x
        misses += y
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers" if s.line else "markers",
                "name": s.name,
                "x": x,
                "y": y,
                "text": [
                    f"{s.labels[j]}: {float(s.attainment[j]) * 100:.3f} % within the SLO"
                    for j in order
                ],
                "hovertemplate": "%{text}<br>%{x:.2f} GPU-h<extra>"
                + html.escape(s.name)
                + "</extra>",
                "marker": {"color": COLORS[i % len(COLORS)], "size": 9, "symbol": s.symbol},
                "line": {"color": COLORS[i % len(COLORS)], "width": 1.5},
            }
        )
    pos = [x for x in xs if x > 0]
    lo_x, hi_x = (min(pos), max(pos)) if pos else (0.1, 1.0)
    worst = min(max(misses) * 1.5, 100.0)
    if oracle_gpu_hours > 0:
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"oracle ({oracle_gpu_hours:,.2f} GPU-h)",
                "x": [oracle_gpu_hours, oracle_gpu_hours],
                "y": [worst, MISS_FLOOR_PCT],
                "marker": {"color": "#000", "size": [0, 11], "symbol": "star"},
                "line": {"color": "#000", "dash": "dash", "width": 1},
                "hoverinfo": "name",
            }
        )
    data.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"SLO target {target * 100:g} %",
            "x": [lo_x / 1.2, hi_x * 1.2],
            "y": [_miss_pct(target)] * 2,
            "line": {"color": "#666", "dash": "dot", "width": 1},
            "hoverinfo": "name",
        }
    )
    lay = layout(
        title,
        "GPU-hours (log scale; a booting pod holds its GPU)",
        "requests within the SLO (log scale of the misses)",
        y_log=True,
        height=height,
    )
    lay["xaxis"]["type"] = "log"
    ticks = [(v, t) for v, t in _NINES if v <= worst * 1.01]
    lay["yaxis"].update(
        {
            "autorange": "reversed",
            "tickvals": [v for v, _ in ticks],
            "ticktext": [t for _, t in ticks],
        }
    )
    lay["legend"].update({"x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"})
    lay["margin"]["r"] = 10
    return Figure(data, lay)
