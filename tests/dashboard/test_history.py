"""The "last N hours from Prometheus" trace source against a real Prometheus
holding two hours of backfilled Triton counters (promtool), read through the
dashboard's what-if exactly as a user would pick it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scaler.dashboard.history import prometheus_trace
from scaler.own_metrics import build_metrics
from scaler.prometheus_pool import PrometheusPool
from scaler.settings import ServerSettings
from tests.dashboard.conftest import make_env
from tests.dashboard.test_api import wait_job

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
STEP_S = 15
LOW_RPS, HIGH_RPS, ITEMS = 100.0, 300.0, 4.0

pytestmark = [
    pytest.mark.realparts,
    pytest.mark.skipif(
        not (Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()),
        reason="needs Debian's prometheus and promtool (make apt)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openmetrics(end_s: int) -> str:
    """Two hours of Triton's counters (named as Triton exposes them, without the
    OpenMetrics ``_total``): 100 req/s for an hour, then 300 req/s; 4 items each."""
    lines = [
        "# TYPE nv_inference_request_success unknown",
        "# TYPE nv_inference_count unknown",
    ]
    start = end_s - 2 * 3600
    requests_total = 0.0
    success, items = [], []
    for t in range(start, end_s + 1, STEP_S):
        labels = 'namespace="ligo",model="m",instance="a:8002"'
        success.append(f"nv_inference_request_success{{{labels}}} {requests_total} {t}")
        items.append(f"nv_inference_count{{{labels}}} {requests_total * ITEMS} {t}")
        requests_total += STEP_S * (LOW_RPS if t < start + 3600 else HIGH_RPS)
    return "\n".join(lines[:1] + success + lines[1:] + items + ["# EOF"]) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, float]]:
    tmp = tmp_path_factory.mktemp("prom")
    end_s = int(time.time()) // STEP_S * STEP_S - 60
    (tmp / "data.om").write_text(_openmetrics(end_s))
    data = tmp / "data"
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(tmp / "data.om"), str(data)],
        check=True,
        capture_output=True,
    )
    (tmp / "prom.yml").write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    port = _free_port()
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp / 'prom.yml'}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=30d",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("Prometheus did not become ready")
        yield url, float(end_s)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_the_last_hours_come_back_as_a_rate_trace(
    prometheus: tuple[str, float], tmp_path: Path
) -> None:
    url, end_s = prometheus
    env = make_env(tmp_path, prometheus_url=url)
    pool = PrometheusPool(ServerSettings(prometheus_url=url), build_metrics())
    trace = prometheus_trace(pool, env.obj.config, 2.0, now_s=end_s, source=url)
    env.tracker.stop()
    pool.close()
    assert trace.step_s == STEP_S
    first_hour = trace.rps[5 : 3600 // STEP_S - 5]
    second_hour = trace.rps[3600 // STEP_S + 5 : -5]
    assert first_hour.mean() == pytest.approx(LOW_RPS, rel=0.02)
    assert second_hour.mean() == pytest.approx(HIGH_RPS, rel=0.02)
    assert trace.items[10] == pytest.approx(ITEMS, rel=0.02)
    assert "ligo/triton" in trace.name


def test_a_what_if_replays_the_objects_own_traffic(
    prometheus: tuple[str, float], tmp_path: Path
) -> None:
    url, _ = prometheus
    settings = ServerSettings(prometheus_url=url, prometheus_timeout_s=5.0)
    # The server's own Prometheus client: the dashboard reads history through it.
    env = make_env(tmp_path, prometheus_url=url, observer=PrometheusPool(settings, build_metrics()))
    with env.client:
        r = env.client.post(
            "/api/objects/ligo/triton/whatif",
            headers=env.auth(),
            json={"override": {"targetMs": "20"}, "trace": {"kind": "prometheus", "hours": 3}},
        )
        assert r.status_code == 202, r.text
        job = wait_job(env, r.json()["id"])
    env.tracker.stop()
    assert job["status"] == "done", job.get("error", job)
    comp = job["result"]["comparison"]
    assert comp["trace"]["name"].startswith("prometheus:ligo/triton")
    assert comp["trace"]["requests"] == pytest.approx((LOW_RPS + HIGH_RPS) * 3600, rel=0.05)
    assert comp["candidate"]["requests"] == pytest.approx(comp["trace"]["requests"])
