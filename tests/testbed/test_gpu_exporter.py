"""The stand-in GPU exporter turns Triton's cumulative counters into a busy fraction."""

from __future__ import annotations

import pytest

from scaler.testbed.gpu_exporter import busy_fraction, read_counters

TRITON_TEXT = """\
# HELP nv_inference_request_success Number of successful inference requests
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="m",version="1"} 120
nv_inference_request_success{model="k",version="1"} 30
nv_inference_exec_count{model="m",version="1"} 40
nv_inference_compute_infer_duration_us{model="m",version="1"} 600000
nv_inference_count{model="m",version="1"} 120
nv_cpu_utilization 0.5
"""


def test_counters_are_summed_over_models_and_other_metrics_ignored() -> None:
    assert read_counters(TRITON_TEXT) == {
        "nv_inference_compute_infer_duration_us": 600000.0,
        "nv_inference_exec_count": 40.0,
        "nv_inference_request_success": 150.0,
    }


def counters(infer_us: float, execs: float, requests: float) -> dict[str, float]:
    return {
        "nv_inference_compute_infer_duration_us": infer_us,
        "nv_inference_exec_count": execs,
        "nv_inference_request_success": requests,
    }


def test_busy_time_counts_each_batch_once_not_once_per_request() -> None:
    # 100 executions of batch 4 taking 5 ms each in 2 s: Triton adds 5 ms to every
    # request, 400 × 5 ms = 2 s of counter, but the instance was busy 0.5 s: 25 %.
    before = counters(0, 0, 0)
    after = counters(400 * 5_000, 100, 400)
    assert busy_fraction(before, after, 2.0) == pytest.approx(0.25)


def test_busy_fraction_is_clamped_to_one_and_zero_when_idle_or_reset() -> None:
    assert busy_fraction(counters(0, 0, 0), counters(3e6, 10, 10), 1.0) == 1.0
    assert busy_fraction(counters(5, 5, 5), counters(5, 5, 5), 1.0) == 0.0
    assert busy_fraction(counters(9e6, 90, 90), counters(1e3, 1, 1), 1.0) == 0.0
    assert busy_fraction(counters(0, 0, 0), counters(1e3, 1, 1), 0.0) == 0.0
