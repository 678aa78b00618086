"""The Grafana dashboard and the Operator overlay's alerts hold PromQL that a real
Prometheus accepts: ``promtool`` checks and unit-tests the alerts, and a Prometheus
started here loads them and answers every dashboard query (after Grafana's variables
are filled in)."""

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
from tests.manifests.rendered import MANIFESTS, one, render

DASHBOARD = MANIFESTS / "grafana" / "sonic-scaler-dashboard.json"
OPERATOR_OVERLAY = "prometheus-operator"
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


def alert_groups() -> list[dict[str, Any]]:
    """The rule groups of the Operator overlay's PrometheusRule, as rendered."""
    rule = one(render(OPERATOR_OVERLAY), "PrometheusRule", "sonic-scaler")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def alert_rules_file(directory: Path) -> Path:
    path = directory / "sonic-scaler-alerts.yaml"
    path.write_text(yaml.safe_dump({"groups": alert_groups()}, sort_keys=False))
    return path


def test_the_scalers_series_are_labelled_scaledobject_namespace_everywhere() -> None:
    """Not ``namespace``: a PodMonitor's target label would rename it exported_namespace."""
    assert own_metrics.OBJECT_LABELS == ("scaledobject_namespace", "scaledobject")
    for where, expr in dashboard_queries():
        for selector in re.findall(r"sonic_scaler_\w+\{[^}]*\}", expr):
            assert not re.search(r"(?<!_)namespace=", selector), f"{where}: {selector}"
    for group in alert_groups():
        for rule in group["rules"]:
            assert not re.search(r"\bby \(namespace", rule["expr"]), rule["alert"]


def test_the_docs_name_every_dashboard_metric_the_scaler_and_triton_do_not_provide() -> None:
    """Panels reading kube-state-metrics or KEDA's metrics stay empty on SuperSONIC's
    bundled Prometheus; docs/deploy.md must say which."""
    docs = (MANIFESTS.parent / "docs" / "deploy.md").read_text()
    foreign = {
        (p["title"], name)
        for p in panels(dashboard())
        for t in p.get("targets", [])
        for name in re.findall(r"\b((?:kube|keda)_\w+)", t["expr"])
    }
    assert foreign, "the dashboard reads no kube-state-metrics/KEDA series any more?"
    for title, name in foreign:
        assert name in docs and title in docs, f"docs/deploy.md does not say {title!r} needs {name}"


def test_promtool_accepts_the_alert_rules(tmp_path: Path) -> None:
    done = subprocess.run(
        [_tool(PROMTOOL), "check", "rules", str(alert_rules_file(tmp_path))],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 rules found" in done.stdout


def _expected(alert: str, **labels: str) -> dict[str, Any]:
    """The alert as promtool reports it: its labels, and its annotations with
    ``{{ $labels.x }}`` filled in."""
    rule = next(r for g in alert_groups() for r in g["rules"] if r.get("alert") == alert)
    annotations = {
        k: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], v)
        for k, v in rule.get("annotations", {}).items()
    }
    return {"exp_labels": {**rule.get("labels", {}), **labels}, "exp_annotations": annotations}


def test_each_alert_fires_on_what_it_names_and_not_before(tmp_path: Path) -> None:
    so = {"scaledobject_namespace": "cms", "scaledobject": "cms-triton"}
    inner = ",".join(f'{k}="{v}"' for k, v in so.items())
    series = [
        # Holding from minute 2 on; failing (status fail decisions) from minute 8 on.
        {"series": f"sonic_scaler_holding{{{inner}}}", "values": "0 0 1x20"},
        # No series for the scope from minute 3 on.
        {"series": f"sonic_scaler_no_series{{{inner}}}", "values": "0 0 0 1x20"},
        {
            "series": f'sonic_scaler_decisions_total{{{inner},policy="threshold",'
            'status="fail",guardrail="none"}',
            "values": "0x7 0+12x12",
        },
        # One scaler replica up until minute 10, then none.
        {
            "series": 'up{job="sonic-scaler/sonic-scaler",pod="sonic-scaler-0"}',
            "values": "1x9 0x12",
        },
        {
            "series": 'sonic_scaler_prometheus_query_errors_total{reason="timeout"}',
            "values": "0+6x20",
        },
        {
            "series": 'sonic_scaler_rpc_errors_total{method="GetMetrics",code="INVALID_ARGUMENT"}',
            "values": "0x10 1+1x10",
        },
        # The reader misses the watchdog's pings for one minute (a blip), then from
        # minute 6 on.
        {
            "series": 'sonic_scaler_prometheus_reader_stalled{pod="sonic-scaler-0"}',
            "values": "0 0 1 0 0 0 1x14",
        },
    ]
    tests = [
        {"eval_time": "5m", "alertname": "SonicScalerHolding", "exp_alerts": []},
        {
            "eval_time": "8m",
            "alertname": "SonicScalerHolding",
            "exp_alerts": [_expected("SonicScalerHolding", **so)],
        },
        {"eval_time": "12m", "alertname": "SonicScalerNoSeries", "exp_alerts": []},
        {
            "eval_time": "14m",
            "alertname": "SonicScalerNoSeries",
            "exp_alerts": [_expected("SonicScalerNoSeries", **so)],
        },
        {"eval_time": "7m", "alertname": "SonicScalerFailing", "exp_alerts": []},
        {
            "eval_time": "10m",
            "alertname": "SonicScalerFailing",
            "exp_alerts": [_expected("SonicScalerFailing", **so)],
        },
        {"eval_time": "9m", "alertname": "SonicScalerDown", "exp_alerts": []},
        {
            "eval_time": "16m",
            "alertname": "SonicScalerDown",
            "exp_alerts": [_expected("SonicScalerDown")],
        },
        {
            "eval_time": "16m",
            "alertname": "SonicScalerPrometheusErrors",
            "exp_alerts": [_expected("SonicScalerPrometheusErrors", reason="timeout")],
        },
        {"eval_time": "9m", "alertname": "SonicScalerRejectsScaledObject", "exp_alerts": []},
        {
            "eval_time": "13m",
            "alertname": "SonicScalerRejectsScaledObject",
            "exp_alerts": [_expected("SonicScalerRejectsScaledObject", method="GetMetrics")],
        },
        {"eval_time": "4m", "alertname": "SonicScalerReaderStalled", "exp_alerts": []},
        {"eval_time": "7m", "alertname": "SonicScalerReaderStalled", "exp_alerts": []},
        {
            "eval_time": "9m",
            "alertname": "SonicScalerReaderStalled",
            "exp_alerts": [_expected("SonicScalerReaderStalled", pod="sonic-scaler-0")],
        },
    ]
    unit = {
        "rule_files": [str(alert_rules_file(tmp_path))],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": tests}],
    }
    path = tmp_path / "alerts_test.yaml"
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
    """A real Prometheus on a free loopback port, with the Operator overlay's alerts loaded."""
    binary = _tool(PROMETHEUS)
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
                "rule_files": [str(alert_rules_file(work))],
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


def test_prometheus_loads_every_alert(prometheus: str) -> None:
    status, body = _get(f"{prometheus}/api/v1/rules?type=alert")
    assert status == 200
    loaded = [r["name"] for g in body["data"]["groups"] for r in g["rules"]]
    in_rule = [r["alert"] for g in alert_groups() for r in g["rules"]]
    assert sorted(loaded) == sorted(in_rule)
    assert len(in_rule) == 7


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
