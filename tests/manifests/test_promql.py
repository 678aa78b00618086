"""The Grafana dashboard and the recording rules hold PromQL that a real Prometheus
accepts: ``promtool`` checks and unit-tests the rules, and a Prometheus started
here answers every dashboard query (after Grafana's variables are filled in)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaler import own_metrics
from tests.manifests.rendered import MANIFESTS

DASHBOARD = MANIFESTS / "grafana" / "sonic-scaler-dashboard.json"
RULES = MANIFESTS / "prometheus" / "recording-rules.yaml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "namespace": "(supersonic|cms)",
    "scaledobject": "(supersonic-triton|cms-triton)",
    "release": "(supersonic|cms)",
}
"""What Grafana puts in place of each variable (multi-value selections become a regex
alternation)."""

LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def _tool(path: str) -> str:
    if not Path(path).exists():
        pytest.fail(f"{path} is needed: apt-get install -y prometheus")
    return path


def fill_variables(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in GRAFANA_VARIABLES:
            raise AssertionError(f"unknown Grafana variable ${name} in {expr!r}")
        return GRAFANA_VARIABLES[name]

    return re.sub(r"\$\{?(?P<name>\w+)(?::\w+)?\}?", value, expr)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dash["panels"]:
        out.append(panel)
        out += panel.get("panels", [])
    return out


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable's selector."""
    dash = dashboard()
    queries = [
        (f"panel {p['title']!r} {t['refId']}", t["expr"])
        for p in panels(dash)
        for t in p.get("targets", [])
    ]
    for var in dash["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = LABEL_VALUES.match(query)
        assert match, f"variable {var['name']}: expected label_values(selector, label)"
        queries.append((f"variable {var['name']}", match.group("selector")))
    return queries


def test_the_dashboard_is_grafana_json_with_unique_panel_ids() -> None:
    dash = dashboard()
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids))
    names = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "namespace", "scaledobject", "release"} <= names


def test_the_dashboard_shows_every_metric_the_scaler_exports() -> None:
    exprs = " ".join(e for _, e in dashboard_queries())
    registry = own_metrics.build_metrics().registry
    names = {m.name for m in registry.collect()}
    assert names, "scaler.own_metrics exports nothing?"
    for name in names:
        assert re.search(rf"\b{name}(_total|_bucket|_count|_sum)?\b", exprs), name


def test_the_dashboard_has_the_panels_operators_need() -> None:
    titles = " | ".join(p["title"].lower() for p in panels(dashboard()))
    for words in (
        "desired vs. ready",
        "decision",
        "signal vs. target",
        "query latency",
        "query errors",
        "hold and fallback",
        "queue time",
        "gpu",
    ):
        assert words in titles, words


def test_promtool_accepts_the_recording_rules() -> None:
    done = subprocess.run(
        [_tool(PROMTOOL), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _series(metric: str, pod: str, values: str, **labels: str) -> dict[str, str]:
    base = {"namespace": "supersonic", "release": "supersonic", "pod": pod, **labels}
    inner = ",".join(f'{k}="{v}"' for k, v in base.items())
    return {"series": f"{metric}{{{inner}}}", "values": values}


def _sample(record: str, value: float, **labels: str) -> dict[str, Any]:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {
        "expr": f"{record}{{{inner}}}",
        "eval_time": "2m",
        "exp_samples": [{"labels": f"{record}{{{inner}}}", "value": value}],
    }


def test_the_recording_rules_compute_the_signals_the_scaler_uses(tmp_path: Path) -> None:
    """Two Triton pods, each 10 req/s, 5 executions/s, 5 ms of queueing per second
    (so 0.5 ms per request, 1 ms per execution), GPUs 50 % and 70 % busy; a second
    model is idle (0 queue time per request, not NaN)."""
    m = {"model": "deepclean"}
    idle = {"model": "idle"}
    series = []
    for pod, gpu, pending in (("triton-a", "0.5", "3"), ("triton-b", "0.7", "4")):
        series += [
            _series("nv_inference_request_success", pod, "0+50x40", **m),
            _series("nv_inference_exec_count", pod, "0+25x40", **m),
            _series("nv_inference_queue_duration_us", pod, "0+25000x40", **m),
            _series("nv_inference_pending_request_count", pod, f"{pending}x40", **m),
            _series("nv_inference_request_success", pod, "7x40", **idle),
            _series("nv_inference_queue_duration_us", pod, "900x40", **idle),
            _series("nv_gpu_utilization", pod, f"{gpu}x40", gpu_uuid="GPU-0"),
        ]
    scope = {"namespace": "supersonic", "release": "supersonic"}
    tests = [
        _sample("namespace_release_model:nv_inference_request_success:rate30s", 20, **scope, **m),
        _sample(
            "namespace_release_model:nv_inference_queue_time_per_request_ms:rate30s",
            0.5,
            **scope,
            **m,
        ),
        _sample(
            "namespace_release_model:nv_inference_queue_time_per_request_ms:rate30s",
            0,
            **scope,
            **idle,
        ),
        _sample("namespace_release:nv_inference_queue_time_per_exec_ms:rate30s", 1.0, **scope),
        _sample("namespace_release:nv_inference_pending_request_count:sum", 7, **scope),
        _sample("namespace_release:gpu_utilization:avg", 0.6, **scope),
        _sample("namespace_release:triton_pods:count", 2, **scope),
    ]
    unit = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "15s",
        "tests": [{"interval": "5s", "input_series": series, "promql_expr_test": tests}],
    }
    path = tmp_path / "rules_test.yaml"
    path.write_text(yaml.safe_dump(unit, sort_keys=False))
    done = subprocess.run(
        [_tool(PROMTOOL), "test", "rules", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus on a free loopback port, with the recording rules loaded."""
    binary = _tool(PROMETHEUS)
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [],
            }
        )
    )
    for _attempt in range(3):
        port = _free_port()
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(work / "prometheus.log", "ab"),  # noqa: SIM115
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        if proc.poll() is None:
            break
    else:
        pytest.fail(f"Prometheus did not start:\n{(work / 'prometheus.log').read_text()}")
    try:
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_prometheus_loads_every_recording_rule(prometheus: str) -> None:
    status, body = _get(f"{prometheus}/api/v1/rules?type=record")
    assert status == 200
    loaded = [r["name"] for g in body["data"]["groups"] for r in g["rules"]]
    in_file = [r["record"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert sorted(loaded) == sorted(in_file)


def test_prometheus_accepts_every_dashboard_query(prometheus: str) -> None:
    queries = dashboard_queries()
    assert len(queries) > 20
    rejected = []
    for where, expr in queries:
        filled = fill_variables(expr)
        url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": filled})
        status, body = _get(url)
        if status != 200 or body.get("status") != "success":
            rejected.append(f"{where}: {body.get('error', status)}\n    {filled}")
    assert not rejected, "\n".join(rejected)


def test_a_broken_query_would_be_caught(prometheus: str) -> None:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": "sum by (le (x)"})
    status, body = _get(url)
    assert status == 400 and body["status"] == "error"
