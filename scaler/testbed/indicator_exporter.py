"""Replays a trace's leading indicators as Prometheus gauges, like a batch system's
exporter (Slurm's or HTCondor's) would show its job counts.

One gauge per indicator column, named after it (``campaign_jobs`` …) and labelled
``source="trace"``; Prometheus adds the scrape target's labels. The testbed sets
the values of the bin being replayed each trace second, and the real Prometheus
scrapes them, so the scaler reads indicators through the same queries
(``sum(<indicator<N>Metric>)``) as in a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from scaler.selector import METRIC_NAME
from scaler.testbed.procs import LOOPBACK, Managed
from scaler.traces.model import FloatArray


class IndicatorExporter(Managed):
    """Serves ``/metrics`` with one gauge per indicator series of ``series``."""

    def __init__(
        self, series: Mapping[str, FloatArray], *, port: int = 0, host: str = LOOPBACK
    ) -> None:
        bad = [name for name in series if not METRIC_NAME.match(name)]
        if bad:
            raise ValueError(
                f"indicator column {bad[0]!r} is not a Prometheus metric name "
                "([a-zA-Z_:][a-zA-Z0-9_:]*)"
            )
        self.series = dict(series)
        self.registry = CollectorRegistry()
        self.gauges = {
            name: Gauge(
                name,
                f"Leading indicator {name} replayed from a trace.",
                ["source"],
                registry=self.registry,
            )
            for name in self.series
        }
        self._host = host
        self._port = port
        self._server: object | None = None

    @property
    def address(self) -> str:
        """``host:port`` to scrape."""
        return f"{self._host}:{self._port}"

    def show(self, index: int) -> None:
        """Set every gauge to its value in bin ``index`` (the last bin after the end)."""
        for name, values in self.series.items():
            if len(values):
                self.gauges[name].labels("trace").set(float(values[min(index, len(values) - 1)]))

    def start(self) -> None:
        if self._server is not None:
            return
        self.show(0)
        server, _ = start_http_server(self._port, addr=self._host, registry=self.registry)
        self._server = server
        self._port = server.server_port

    def close(self) -> None:
        server = self._server
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
            server.server_close()  # type: ignore[attr-defined]
            self._server = None
