"""How long after a new replica becomes a scrape target does a query see it? The
question behind the simulator's ``discovery_delay_s`` and its rule that a new
replica's counters reach ``rate()`` only from its first scrape on
(``scaler/sim/observe.py``), asked of the real Prometheus the testbed runs
(``/usr/bin/prometheus``, ``file_sd`` re-read every second, 1 s scrapes).

Each trial starts a tiny ``/metrics`` endpoint, adds it to the ``file_sd`` file at a
random moment, and polls Prometheus every 50 ms until (a) an instant query returns
the new series (its first scrape) and (b) ``rate(...[10s])`` returns it (two
samples). Several Prometheus starts, since part of the delay is fixed per start:
Prometheus's discovery manager sends target updates on a 5 s ticker
(``discovery/manager.go``, ``updatert``) and the scrape manager applies them on
another 5 s ticker (``scrape/manager.go``, ``reloader``), so a new target waits for
the next tick of the first (uniform over 5 s) plus the phase between the two
tickers, which is set when the process starts; then the scrape loop's own offset
within the interval.

Writes ``bench/results/discovery_probe.{json,md}``. Run: ``nice -n 10
.venv/bin/python bench/discovery_probe.py`` (about 3 minutes).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaler.testbed.prometheus_server import PrometheusServer, ScrapeTarget  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STARTS = 3
TRIALS = 8


def _endpoint(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f'probe_counter{{src="{name}"}} {time.time()}\n'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def one_start(rng: random.Random) -> dict[str, list[float]]:
    """One Prometheus start, :data:`TRIALS` new targets: seconds from the file write
    to the first sample and to the first rate."""
    servers = [_endpoint("base")]
    targets = [ScrapeTarget(f"127.0.0.1:{servers[0].server_address[1]}", {"pod": "base"})]
    first: list[float] = []
    rated: list[float] = []
    with PrometheusServer(scrape_interval_s=1.0, evaluation_interval_s=1.0) as prom:
        prom.set_targets(targets)
        prom.wait_for('probe_counter{src="base"}', timeout_s=30)
        for i in range(TRIALS):
            time.sleep(rng.uniform(0.0, 5.0))
            servers.append(_endpoint(f"t{i}"))
            addr = f"127.0.0.1:{servers[-1].server_address[1]}"
            targets.append(ScrapeTarget(addr, {"pod": f"t{i}"}))
            t0 = time.monotonic()
            prom.set_targets(targets)
            seen: float | None = None
            while time.monotonic() - t0 < 30:
                if seen is None and prom.query(f'probe_counter{{src="t{i}"}}'):
                    seen = time.monotonic() - t0
                if prom.query(f'rate(probe_counter{{src="t{i}"}}[10s])'):
                    rated.append(round(time.monotonic() - t0, 2))
                    break
                time.sleep(0.05)
            first.append(round(seen if seen is not None else 30.0, 2))
    for s in servers:
        s.shutdown()
        s.server_close()
    return {"first_sample_s": first, "rate_s": rated}


def main() -> int:
    rng = random.Random(0)
    starts = [one_start(rng) for _ in range(STARTS)]
    out: dict[str, Any] = {
        "utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "scrape_interval_s": 1.0,
        "starts": starts,
    }
    lines = [
        "# Prometheus's discovery of a new scrape target (bench/discovery_probe.py)",
        "",
        f"The testbed's Prometheus (`/usr/bin/prometheus`, file_sd, 1 s scrapes), {out['utc']}: "
        f"{STARTS} starts × {TRIALS} targets added at random moments. Seconds from the "
        "targets file being written to a query returning the new series (first scrape) "
        "and its `rate(...[10s])` (second scrape).",
        "",
        "| start | first scrape s: mean (min–max) | rate s: mean (min–max) |",
        "|---|---|---|",
    ]
    for i, s in enumerate(starts, 1):
        f, r = s["first_sample_s"], s["rate_s"]
        lines.append(
            f"| {i} | {statistics.mean(f):.1f} ({min(f):.1f}–{max(f):.1f}) | "
            f"{statistics.mean(r):.1f} ({min(r):.1f}–{max(r):.1f}) |"
        )
    lines += [
        "",
        "Two 5 s tickers sit between the file and the scrape loop (the discovery manager's "
        "`updatert` and the scrape manager's `reloader`), so a new target waits up to 5 s "
        "for the first and then the fixed phase to the second, set at each start; its "
        "counters reach `rate()` one scrape later. The simulator's `discovery_delay_s` "
        "(2.5 s by default) is the delay to the first scrape, and it counts a new replica's "
        "completions in rates only from then on (`scaler/sim/observe.py`).",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "discovery_probe.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "discovery_probe.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
