"""The testbed's Prometheus launcher: targets from a rewritten file, and a restart
that keeps port and data."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from scaler.testbed.prometheus_server import PrometheusServer, ScrapeTarget
from tests.realparts.exporter import KnownExporter

pytestmark = pytest.mark.realparts


def test_targets_carry_their_labels_and_a_restart_keeps_port_and_data(tmp_path: Path) -> None:
    exporter = KnownExporter()
    exporter.gauge("testbed_value", 7.0)
    server = PrometheusServer(workdir=tmp_path / "prom", scrape_interval_s=1.0)
    try:
        server.start()
        server.set_targets(
            [ScrapeTarget(exporter.address, {"namespace": "ns", "pod": "p0", "job": "gpu"})]
        )
        server.wait_for('testbed_value{namespace="ns",pod="p0",job="gpu"}')
        port = server.port

        server.restart()

        assert server.port == port
        assert server.running
        kept = server.query('count_over_time(testbed_value{namespace="ns"}[10m])')
        assert len(kept) == 1 and float(kept[0]["value"][1]) >= 1
        server.set_targets([])
    finally:
        server.close()
        exporter.close()
    assert not server.running


def test_intervals_must_be_positive() -> None:
    with pytest.raises(ValueError, match="intervals"):
        PrometheusServer(scrape_interval_s=0)


def test_a_port_taken_before_the_first_start_is_replaced_by_a_free_one(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = PrometheusServer(workdir=tmp_path / "prom")
        server.port = taken
        try:
            server.start()
            assert server.running
            assert server.port != taken
        finally:
            server.close()
