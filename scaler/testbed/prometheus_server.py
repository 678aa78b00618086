"""A real Prometheus (``/usr/bin/prometheus``) on a free loopback port, for tests and the testbed.

Targets come from a ``file_sd_configs`` JSON file re-read every second, so adding
or removing a Triton replica is a file rewrite, as Kubernetes service discovery
would do it. Each target carries its own labels (``pod``, ``namespace``,
``release``; ``job`` too if given, since discovered labels win over the scrape
job's default).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from scaler.testbed.procs import (
    LOOPBACK,
    ChildError,
    Managed,
    free_port,
    port_clash,
    start_group,
    stop_group,
    wait_http_ready,
)

PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
DEFAULT_JOB = "triton"


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """One ``host:port`` serving ``/metrics`` and the labels Prometheus attaches to its series."""

    address: str
    labels: Mapping[str, str] = field(default_factory=dict)


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


class PrometheusServer(Managed):
    """A Prometheus child process with its own config, data dir and port.

    ``scrape_interval_s`` and ``evaluation_interval_s`` are in seconds (tests use
    1 s); the scrape timeout equals the interval. The data dir and port survive
    :meth:`restart`, so a restarted Prometheus still holds the old samples.
    """

    def __init__(
        self,
        *,
        workdir: Path | None = None,
        scrape_interval_s: float = 1.0,
        evaluation_interval_s: float = 1.0,
        binary: Path = PROMETHEUS_BINARY,
        start_timeout_s: float = 30.0,
    ) -> None:
        if scrape_interval_s <= 0 or evaluation_interval_s <= 0:
            raise ValueError("scrape and evaluation intervals must be > 0 seconds")
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="prom-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.scrape_interval_s = scrape_interval_s
        self.evaluation_interval_s = evaluation_interval_s
        self.binary = binary
        self.start_timeout_s = start_timeout_s
        self.port = free_port()
        self.config_path = self.workdir / "prometheus.json"
        self.targets_path = self.workdir / "targets.json"
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "prometheus.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_once = False
        self._targets: list[ScrapeTarget] = []
        self._write_config()
        self._write_targets()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _write_config(self) -> None:
        interval = _duration(self.scrape_interval_s)
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": _duration(self.evaluation_interval_s),
            },
            "scrape_configs": [
                {
                    "job_name": DEFAULT_JOB,
                    "file_sd_configs": [
                        {"files": [str(self.targets_path)], "refresh_interval": "1s"}
                    ],
                }
            ],
        }
        self.config_path.write_text(json.dumps(config, indent=2))

    def _write_targets(self) -> None:
        groups = [{"targets": [t.address], "labels": dict(t.labels)} for t in self._targets]
        tmp = self.targets_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups, indent=2))
        os.replace(tmp, self.targets_path)

    def set_targets(self, targets: Iterable[ScrapeTarget]) -> None:
        """Replace the scraped targets (atomic file rewrite; Prometheus sees it within ~1 s)."""
        self._targets = list(targets)
        self._write_targets()

    @property
    def targets(self) -> list[ScrapeTarget]:
        return list(self._targets)

    def start(self, *, attempts: int = 3) -> None:
        """Start Prometheus and wait until ``/-/ready`` answers 200.

        On the first start only, if the chosen port was taken meanwhile, another
        free port is tried (up to ``attempts`` starts); a restart keeps its port.
        """
        if self.running:
            return
        if not self.binary.exists():
            raise ChildError(f"{self.binary} not found (apt-get install prometheus)")
        for attempt in range(1, attempts + 1):
            self.log_path.write_bytes(b"")
            self._proc = start_group(self._argv(), log_path=self.log_path)
            try:
                wait_http_ready(
                    f"{self.url}/-/ready",
                    timeout_s=self.start_timeout_s,
                    proc=self._proc,
                    log_path=self.log_path,
                )
                self._started_once = True
                return
            except ChildError:
                self.stop()
                if self._started_once or attempt == attempts or not port_clash(self.log_path):
                    raise
                self.port = free_port()

    def _argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ]

    def stop(self) -> None:
        """Stop Prometheus (its data dir and port are kept for :meth:`restart`)."""
        if self._proc is not None:
            stop_group(self._proc)
            self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop, and delete the work dir if this object created it."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The raw ``result`` of an instant query (a convenience for tests and the testbed)."""
        resp = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        resp.raise_for_status()
        result: list[dict[str, Any]] = resp.json()["data"]["result"]
        return result

    def wait_for(self, promql: str, *, min_series: int = 1, timeout_s: float = 30.0) -> None:
        """Wait until ``promql`` returns at least ``min_series`` series (e.g. a target scraped)."""
        deadline = time.monotonic() + timeout_s
        found = 0
        while time.monotonic() < deadline:
            found = len(self.query(promql))
            if found >= min_series:
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"{promql!r} returned {found} series, wanted ≥ {min_series} within {timeout_s:g} s"
        )
