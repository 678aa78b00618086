"""A trace's leading indicators replayed through a real exporter endpoint, scraped by
the real Prometheus, read by the scaler's Prometheus observer."""

from __future__ import annotations

import numpy as np
import pytest

from scaler.metadata import parse_metadata
from scaler.own_metrics import build_metrics
from scaler.prometheus_observer import PrometheusObserver
from scaler.settings import ServerSettings
from scaler.testbed.indicator_exporter import IndicatorExporter
from scaler.testbed.prometheus_server import PrometheusServer, ScrapeTarget

pytestmark = pytest.mark.realparts


def test_replayed_job_counts_reach_the_scaler(prometheus: PrometheusServer) -> None:
    series = {"campaign_jobs": np.array([0.0, 4.0, 16.0]), "burst_jobs": np.array([1.0, 2, 3])}
    with IndicatorExporter(series) as exporter:
        prometheus.set_targets([ScrapeTarget(exporter.address, {"job": "batch-exporter"})])
        try:
            exporter.show(2)
            prometheus.wait_for("campaign_jobs == 16", timeout_s=30)
            meta = {
                "policy": "leading-predictive",
                "indicator1Metric": 'campaign_jobs{job="batch-exporter"}',
                "indicator2Metric": "burst_jobs",
            }
            cfg = parse_metadata("so", "ns", meta)
            settings = ServerSettings(prometheus_url=prometheus.url)
            observer = PrometheusObserver(settings, build_metrics(), dedup_window_s=0.0)
            assert observer.observe(cfg, 0.0).indicators == (16.0, 3.0)
        finally:
            prometheus.set_targets([])


def test_a_column_that_is_not_a_metric_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'jobs-pending' is not a Prometheus metric name"):
        IndicatorExporter({"jobs-pending": np.zeros(2)})
