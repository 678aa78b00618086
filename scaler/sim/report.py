"""``--report FILE.html``: one self-contained page (inline SVG, no scripts, no
network) with the load, each policy's ready and desired replicas against the
oracle's need, and latency against the SLO."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from scaler.sim.compare import Comparison
from scaler.sim.summary import summary
from scaler.traces.model import FloatArray

_W, _H, _PAD = 900, 180, 40
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
_POINTS = 900


def _bucket_max(y: FloatArray, points: int = _POINTS) -> FloatArray:
    if len(y) <= points:
        return np.asarray(y, dtype=np.float64)
    edges = np.linspace(0, len(y), points + 1).astype(np.int64)
    return np.maximum.reduceat(np.asarray(y, dtype=np.float64), edges[:-1])


def _path(y: FloatArray, y_max: float, log: bool = False) -> str:
    n = len(y)
    if n == 0:
        return ""
    xs = _PAD + np.arange(n) * (_W - 2 * _PAD) / max(n - 1, 1)
    if log:
        lo = 0.1
        v = np.log10(np.clip(y, lo, None) / lo) / np.log10(max(y_max, lo * 10) / lo)
    else:
        v = y / y_max if y_max > 0 else np.zeros(n)
    ys = _H - _PAD / 2 - np.clip(v, 0, 1) * (_H - _PAD)
    return "M" + " L".join(f"{x:.1f},{yv:.1f}" for x, yv in zip(xs, ys, strict=True))


def _svg(
    title: str,
    lines: list[tuple[str, FloatArray, str, str]],
    y_label: str,
    log: bool = False,
    hline: float | None = None,
    duration_h: float = 0.0,
) -> str:
    y_max = max([float(np.max(y)) for _, y, _, _ in lines if len(y)] + [hline or 0.0, 1e-9])
    parts = [
        f'<svg width="{_W}" height="{_H + 20}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{_PAD}" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>',
        f'<text x="{_W - _PAD}" y="14" font-size="11" text-anchor="end">'
        f"{html.escape(y_label)} (max {y_max:.4g}); x: 0–{duration_h:.3g} h</text>",
        f'<rect x="{_PAD}" y="{_PAD / 2}" width="{_W - 2 * _PAD}" height="{_H - _PAD}" '
        'fill="none" stroke="#ccc"/>',
    ]
    if hline is not None:
        p = _path(np.array([hline, hline]), y_max, log)
        parts.append(f'<path d="{p}" stroke="#000" stroke-dasharray="2,3" fill="none"/>')
    for i, (name, y, color, dash) in enumerate(lines):
        parts.append(
            f'<path d="{_path(y, y_max, log)}" stroke="{color}" fill="none" stroke-width="1.3"'
            f"{f' stroke-dasharray={chr(34)}{dash}{chr(34)}' if dash else ''}/>"
        )
        parts.append(
            f'<text x="{_PAD + 10 + 150 * i}" y="{_H + 14}" font-size="11" '
            f'fill="{color}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def render(c: Comparison) -> str:
    """The page as a string."""
    s = summary(c)
    hours = c.trace.duration_s / 3600
    need = _bucket_max(c.oracle.need.astype(np.float64))
    rows = [
        "<tr><th>policy</th><th>GPU-h</th><th>× oracle</th><th>SLO attainment</th>"
        "<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>failed</th><th>scale events</th>"
        "<th>GPU util</th></tr>",
        f"<tr><td>oracle (start-up {c.oracle.startup_s:g} s)</td>"
        f"<td>{c.oracle.gpu_hours:.2f}</td><td>1.00</td><td colspan=7></td></tr>",
        f"<tr><td>oracle_instant</td><td>{c.oracle.instant_gpu_hours:.2f}</td>"
        "<td colspan=8></td></tr>",
    ]
    for p in s["policies"]:
        lat = p["latency_ms"]
        vs = p["gpu_hours_vs_oracle"]
        rows.append(
            f"<tr><td>{html.escape(p['name'])}</td><td>{p['gpu_hours']:.2f}</td>"
            f"<td>{'' if vs is None else f'{vs:.2f}'}</td><td>{p['slo_attainment']:.4f}</td>"
            f"<td>{lat['p50']:.1f}</td><td>{lat['p95']:.1f}</td><td>{lat['p99']:.1f}</td>"
            f"<td>{p['failed_requests']:.0f}</td><td>{p['scale_events']}</td>"
            f"<td>{p['mean_gpu_utilization']:.2f}</td></tr>"
        )
    blocks = [
        _svg(
            "Load",
            [("requests/s", _bucket_max(c.trace.rps), "#333", "")],
            "req/s",
            duration_h=hours,
        )
    ]
    for i, run in enumerate(c.runs):
        color = _COLORS[i % len(_COLORS)]
        blocks.append(
            _svg(
                f"{run.name}: replicas",
                [
                    ("oracle need", need, "#999", "4,3"),
                    ("ready", _bucket_max(run.ready), color, ""),
                    ("desired", _bucket_max(run.desired), "#000", "1,2"),
                    ("holding a GPU", _bucket_max(run.held), "#e6a000", ""),
                ],
                "replicas",
                duration_h=hours,
            )
        )
    blocks.append(
        _svg(
            "Latency (≈p99 per step, max per bucket) against the SLO (dotted)",
            [
                (r.name, _bucket_max(r.latency_p99_ms), _COLORS[i % len(_COLORS)], "")
                for i, r in enumerate(c.runs)
            ],
            "ms, log scale",
            log=True,
            hline=c.scenario.slo_ms,
            duration_h=hours,
        )
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>scaler simulate: {html.escape(c.trace.name)}</title>"
        "<style>body{font-family:sans-serif;margin:20px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "td:first-child{text-align:left}</style></head><body>"
        f"<h1>scaler simulate — {html.escape(c.trace.name)}</h1>"
        f"<p>{s['duration_s'] / 3600:.3g} h, {s['requests']:.4g} requests, mean "
        f"{s['mean_rps']:.4g} req/s, peak {s['peak_rps']:.4g} req/s; SLO {s['slo_ms']:g} ms; "
        f"start-up {s['startup_s']:g} s; mode {s['mode']}.</p>"
        f"<table>{''.join(rows)}</table>"
        + "".join(f"<div>{b}</div>" for b in blocks)
        + "</body></html>\n"
    )


def write_report(c: Comparison, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(c))
