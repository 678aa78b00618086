"""How does Triton's dynamic batcher batch requests that arrive while its instance is
busy? The question behind ``scaler/sim/exact.py``'s batcher, asked of a real Triton
(nvidia-pytriton, the testbed's replica: 5 ms + 40 ms per item, batches of up to 8,
``max_queue_delay`` 2 ms).

Two arrival patterns, each sent many times to an idle replica from pre-opened
sockets (so the client adds no more than a few hundred µs), with the executions of
each trial read from Triton's ``nv_inference_exec_count`` and the completion times:

* ``0, 15, 30, 40`` ms: the one at 15 ms arrives while {0} runs and forms the next
  batch 2 ms later; if the ones at 30 and 40 ms join it the trial runs 2 executions
  ({0}, {15, 30, 40}: every request queued when the instance frees, the simulator's
  old rule), if they wait for the batch after it runs 3 ({0}, {15}, {30, 40});
* ``0, 15, 30, 60, 70`` ms: the request at 30 ms waits while {15} runs; does the
  batch formed for it take the arrivals at 60 and 70 ms?

The simulator's exact mode runs the same arrivals (one replica, the same law) and the
md sets its executions beside the measured ones. Writes
``bench/results/batcher_probe.{json,md}``. Run: ``nice -n 10 .venv/bin/python
bench/batcher_probe.py`` (about 1 minute).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaler.sim.exact import ExactFleet  # noqa: E402
from scaler.sim.scenario import ExactSpec, FleetSpec  # noqa: E402
from scaler.testbed.loadgen import INFER_BODY  # noqa: E402
from scaler.testbed.triton_replica import ServiceLaw, TritonReplica  # noqa: E402
from scaler.traces.model import Trace  # noqa: E402

RESULTS = ROOT / "bench" / "results"
LAW = ServiceLaw(base_ms=5.0, per_item_ms=40.0, max_batch=8, max_queue_delay_us=2000)
PATTERNS_MS = ((0.0, 15.0, 30.0, 40.0), (0.0, 15.0, 30.0, 60.0, 70.0))
TRIALS = 20
_SAMPLE = re.compile(r"^(nv_inference_\w+)(\{[^}]*\})?\s+(\S+)")


def _counters(url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in requests.get(url, timeout=5).text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


def _groups(done_ms: list[float], gap_ms: float = 5.0) -> list[int]:
    """Requests per execution, from completion times (a batch's requests finish within
    a few ms of each other; executions are 45 ms or more apart)."""
    order = sorted(done_ms)
    sizes = [1]
    for a, b in pairwise(order):
        if b - a <= gap_ms:
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sizes


def _trial(replica: TritonReplica, request: bytes, offsets_ms: tuple[float, ...]) -> dict[str, Any]:
    socks = [socket.create_connection(("127.0.0.1", replica.http_port)) for _ in offsets_ms]
    for s in socks:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    before = _counters(replica.metrics_url)
    t0 = time.monotonic() + 0.05
    sent = [0.0] * len(offsets_ms)
    done = [0.0] * len(offsets_ms)

    def fire(i: int) -> None:
        wait = t0 + offsets_ms[i] / 1000.0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        sent[i] = (time.monotonic() - t0) * 1000.0
        socks[i].sendall(request)
        socks[i].recv(65536)
        done[i] = (time.monotonic() - t0) * 1000.0

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(len(offsets_ms))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in socks:
        s.close()
    time.sleep(0.4)
    after = _counters(replica.metrics_url)
    return {
        "executions": int(after["nv_inference_exec_count"] - before["nv_inference_exec_count"]),
        "batches": _groups(done),
        "sent_ms": [round(x, 1) for x in sent],
        "done_ms": [round(x, 1) for x in done],
    }


def simulated(offsets_ms: tuple[float, ...]) -> list[int]:
    """Requests per execution in exact mode for the same arrivals and law."""
    spec = FleetSpec(
        base_ms=LAW.base_ms,
        per_item_ms=LAW.per_item_ms,
        max_batch_items=LAW.max_batch,
        max_queue_delay_ms=LAW.max_queue_delay_us / 1000.0,
    )
    t = np.asarray(offsets_ms) / 1000.0
    fleet = ExactFleet(Trace("probe", np.zeros(2), 1.0, arrivals_s=t), spec, ExactSpec(), 1)
    fleet.latency(1000.0)
    done = (fleet.t_arr * 1000.0 + np.asarray(fleet.latencies_ms)).tolist()
    return _groups(done)


def main() -> int:
    body = json.dumps(INFER_BODY).encode()
    request = (
        "POST /v2/models/model/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    out: dict[str, Any] = {
        "law": {"base_ms": LAW.base_ms, "per_item_ms": LAW.per_item_ms, "max_batch": 8},
        "max_queue_delay_us": LAW.max_queue_delay_us,
        "trials": TRIALS,
        "utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "patterns": [],
    }
    with TritonReplica(law=LAW) as replica:
        for offsets in PATTERNS_MS:
            trials = [_trial(replica, request, offsets) for _ in range(TRIALS)]
            seen = Counter(tuple(t["batches"]) for t in trials)
            out["patterns"].append(
                {
                    "arrivals_ms": list(offsets),
                    "simulated_batches": simulated(offsets),
                    "measured_batches": {" ".join(map(str, k)): v for k, v in seen.most_common()},
                    "trials": trials,
                }
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "batcher_probe.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "batcher_probe.md").write_text(markdown(out))
    print(markdown(out))
    return 0


def markdown(out: dict[str, Any]) -> str:
    lines = [
        "# Triton's dynamic batcher with a busy instance (bench/batcher_probe.py)",
        "",
        f"One real Triton replica (nvidia-pytriton, {out['law']['base_ms']:g} ms + "
        f"{out['law']['per_item_ms']:g} ms per item, batches of up to 8, max_queue_delay "
        f"{out['max_queue_delay_us'] / 1000:g} ms), {out['trials']} trials per arrival "
        f"pattern, {out['utc']}. Requests per execution, in the order they ran (from "
        "completion times; every request is one item).",
        "",
        "| arrivals ms | exact mode | measured: batches (trials) |",
        "|---|---|---|",
    ]
    for p in out["patterns"]:
        measured = ", ".join(f"{k} ({v})" for k, v in p["measured_batches"].items())
        lines.append(
            f"| {', '.join(f'{x:g}' for x in p['arrivals_ms'])} | "
            f"{' '.join(map(str, p['simulated_batches']))} | {measured} |"
        )
    lines += [
        "",
        "Exact mode's rule (`scaler/sim/exact.py`, from Triton's `DynamicBatchScheduler`): "
        "a busy replica's next batch is formed `max_queue_delay` after its first request "
        "and later arrivals wait for the batch after, unless they fill it or are the first "
        "arrival after a batch formed from requests that had waited; a batch waiting to "
        "start is taken by the instance before the batcher, woken by the completion, could "
        "grow it. The other outcomes are that race going the other way, or a request "
        "sent late on the loaded machine (json: `sent_ms`).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
