"""The PromQL built for a fleet: scoped to its labels, valid, and impossible to break
out of with a label value."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaler.metadata import LabelScope, parse_metadata
from scaler.promql import (
    Queries,
    build_queries,
    escape_label_value,
    matchers,
    queries_for,
    selector,
)

PROMTOOL = "/usr/bin/promtool"
SCOPE = LabelScope(namespace="cms", release="sonic", job="triton", model="particlenet")


def all_queries(q: Queries) -> list[str]:
    return [q.ready_replicas, *(query for _, query in q.signals())]


def parse_matchers(text: str) -> dict[str, str]:
    """Read ``{name="value",...}`` back as PromQL's lexer would (Go string escapes)."""
    assert text.startswith("{") and text.endswith("}"), text
    escapes = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
    out: dict[str, str] = {}
    i = 1
    while i < len(text) - 1:
        eq = text.index("=", i)
        name = text[i:eq]
        assert text[eq + 1] == '"', text
        j = eq + 2
        value = []
        while text[j] != '"':
            assert text[j] != "\n", "raw newline inside a PromQL string"
            if text[j] == "\\":
                value.append(escapes[text[j + 1]])
                j += 2
            else:
                value.append(text[j])
                j += 1
        out[name] = "".join(value)
        i = j + 1
        if text[i] == ",":
            i += 1
    assert i == len(text) - 1, f"trailing text after the last matcher in {text!r}"
    return out


def test_triton_series_are_scoped_by_every_label_including_the_model() -> None:
    q = build_queries(SCOPE, 30, "nv_gpu_utilization", None)
    want = '{job="triton",model="particlenet",namespace="cms",release="sonic"}'
    assert q.request_rate_rps == f"sum(rate(nv_inference_request_success{want}[30s]))"
    assert q.pending_requests == f"sum(nv_inference_pending_request_count{want})"
    assert f"nv_inference_queue_duration_us{want}[30s]" in q.queue_time_per_request_ms
    assert f"nv_inference_exec_count{want}[30s]" in q.queue_time_per_exec_ms


def test_target_level_series_leave_out_the_model_label() -> None:
    q = build_queries(SCOPE, 30, "nv_gpu_utilization", None)
    target = '{job="triton",namespace="cms",release="sonic"}'
    assert q.gpu_utilization == f"avg(nv_gpu_utilization{target})"
    assert f"up{target} == 1" in q.ready_replicas


def test_ready_replicas_count_only_targets_exposing_the_models_counters() -> None:
    q = build_queries(SCOPE, 30, "nv_gpu_utilization", None)
    assert q.ready_replicas == (
        'count((up{job="triton",namespace="cms",release="sonic"} == 1) and on (instance) '
        'nv_inference_request_success{job="triton",model="particlenet",namespace="cms",'
        'release="sonic"})'
    )


def test_dcgm_percent_is_turned_into_a_fraction() -> None:
    q = build_queries(SCOPE, 30, "DCGM_FI_DEV_GPU_UTIL", None)
    assert q.gpu_utilization == (
        'avg(DCGM_FI_DEV_GPU_UTIL{job="triton",namespace="cms",release="sonic"}) / 100'
    )


def test_activation_counter_is_scoped_by_namespace_and_release_only() -> None:
    q = build_queries(SCOPE, 10, "nv_gpu_utilization", "envoy_cluster_upstream_rq_total")
    assert q.activation_rps == (
        'sum(rate(envoy_cluster_upstream_rq_total{namespace="cms",release="sonic"}[10s]))'
    )


def test_no_activation_query_without_an_activation_metric() -> None:
    q = build_queries(SCOPE, 30, "nv_gpu_utilization", None)
    assert q.activation_rps is None
    assert "activation_rps" not in dict(q.signals())


def test_queue_time_per_request_divides_by_requests_and_per_exec_by_executions() -> None:
    q = build_queries(LabelScope(namespace="a"), 30, "nv_gpu_utilization", None)
    queue = 'sum(rate(nv_inference_queue_duration_us{namespace="a"}[30s]))'
    reqs = 'sum(rate(nv_inference_request_success{namespace="a"}[30s]))'
    execs = 'sum(rate(nv_inference_exec_count{namespace="a"}[30s]))'
    assert q.queue_time_per_request_ms == (
        f"({queue} / ({reqs} > 0) / 1000) or (({queue} * 0) and ({reqs} == 0))"
    )
    assert q.queue_time_per_exec_ms == (
        f"({queue} / ({execs} > 0) / 1000) or (({queue} * 0) and ({execs} == 0))"
    )


def test_work_signals_count_items_executions_and_compute_per_request() -> None:
    q = build_queries(LabelScope(namespace="a"), 30, "nv_gpu_utilization", None)
    assert q.items_per_s == 'sum(rate(nv_inference_count{namespace="a"}[30s]))'
    assert q.execs_per_s == 'sum(rate(nv_inference_exec_count{namespace="a"}[30s]))'
    compute = 'sum(rate(nv_inference_compute_infer_duration_us{namespace="a"}[30s]))'
    reqs = 'sum(rate(nv_inference_request_success{namespace="a"}[30s]))'
    assert q.compute_time_per_request_ms.startswith(f"({compute} / ({reqs} > 0) / 1000)")


def test_an_empty_scope_selects_by_metric_name_alone() -> None:
    q = build_queries(LabelScope(namespace=None), 30, "nv_gpu_utilization", None)
    assert q.pending_requests == "sum(nv_inference_pending_request_count)"
    assert q.gpu_utilization == "avg(nv_gpu_utilization)"


def test_queries_for_reads_scope_window_and_metrics_from_the_scaledobject() -> None:
    config = parse_metadata(
        "so",
        "cms",
        {
            "signal": "queue_time_per_request_ms",
            "targetMs": "50",
            "model": "m",
            "rateWindowSeconds": "15",
            "gpuMetric": "DCGM_FI_DEV_GPU_UTIL",
            "activationMetric": "proxy_requests_total",
        },
    )
    q = queries_for(config)
    assert q.request_rate_rps == (
        'sum(rate(nv_inference_request_success{model="m",namespace="cms"}[15s]))'
    )
    assert q.gpu_utilization.endswith("/ 100")
    assert q.activation_rps == 'sum(rate(proxy_requests_total{namespace="cms"}[15s]))'


def test_label_values_are_escaped() -> None:
    assert escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert matchers({"namespace": 'x"}) or vector(1) #'}) == ('{namespace="x\\"}) or vector(1) #"}')


@pytest.mark.parametrize(
    ("metric", "labels"),
    [("up{}", {}), ("bad metric", {}), ("up", {"bad-name": "x"}), ("up", {'a"': "x"})],
)
def test_invalid_metric_or_label_names_are_refused(metric: str, labels: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="invalid"):
        selector(metric, labels)


def test_unknown_gpu_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="gpu_metric"):
        build_queries(SCOPE, 30, "node_load1", None)


label_values = st.text(min_size=1, max_size=40)


@given(
    st.dictionaries(
        st.sampled_from(["namespace", "release", "job", "model"]), label_values, min_size=1
    )
)
def test_no_label_value_can_leave_its_matcher(labels: dict[str, str]) -> None:
    assert parse_matchers(matchers(labels)) == labels


@given(label_values, label_values)
def test_every_query_keeps_the_scope_values_intact(namespace: str, model: str) -> None:
    q = build_queries(LabelScope(namespace=namespace, model=model), 30, "nv_gpu_utilization", None)
    want = {"namespace": namespace, "model": model}
    sel = q.pending_requests.removeprefix("sum(nv_inference_pending_request_count").removesuffix(
        ")"
    )
    assert parse_matchers(sel) == want


NASTY = ['a"b', "back\\slash\\", "new\nline", '"} or vector(1) #', "tab\tcr\r", "ünï €", "{}=~,"]


def test_every_query_is_valid_promql_for_promtool(tmp_path: Path) -> None:
    scopes = [SCOPE, LabelScope(namespace=None)] + [
        LabelScope(namespace=v, release=v, job=v, model=v) for v in NASTY
    ]
    exprs = []
    for scope in scopes:
        for gpu, wake in (
            ("nv_gpu_utilization", "proxy_requests_total"),
            (
                "DCGM_FI_DEV_GPU_UTIL",
                'envoy_cluster_upstream_cx_none_healthy{envoy_cluster_name="t"}',
            ),
        ):
            exprs += all_queries(build_queries(scope, 30, gpu, wake))
    rules = {
        "groups": [
            {
                "name": "sonic",
                "rules": [{"record": f"q:{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules))
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(exprs)} rules found" in done.stdout
