"""One real Triton replica (nvidia-pytriton) in its own process group on loopback ports.

The child is ``python -m scaler.testbed.triton_model`` run by the same interpreter
as the caller (``sys.executable``: Debian's Python in the project venv, which
pytriton's Python backend needs). Stopping kills the whole group, so
``tritonserver`` and its backend stub die with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scaler.testbed.procs import (
    LOOPBACK,
    ChildError,
    Managed,
    free_ports,
    port_clash,
    start_group,
    stop_group,
    wait_http_ready,
)


@dataclass(frozen=True, slots=True)
class ServiceLaw:
    """How long the model takes: ``base_ms + per_item_ms * batch`` ms per batch, with
    Triton's dynamic batcher waiting up to ``max_queue_delay_us`` µs for at most
    ``max_batch`` items. Defaults match the run in real-components.md (5 ms per
    batch, max batch 16: about 240 req/s from 8 client threads)."""

    base_ms: float = 5.0
    per_item_ms: float = 0.0
    max_batch: int = 16
    max_queue_delay_us: int = 0

    def __post_init__(self) -> None:
        if self.base_ms < 0 or self.per_item_ms < 0:
            raise ValueError("base_ms and per_item_ms must be ≥ 0")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be ≥ 1, got {self.max_batch}")
        if self.max_queue_delay_us < 0:
            raise ValueError("max_queue_delay_us must be ≥ 0")


class TritonReplica(Managed):
    """A Triton server child serving ``model``; :meth:`start` returns once the model is ready."""

    def __init__(
        self,
        *,
        model: str = "model",
        law: ServiceLaw | None = None,
        name: str | None = None,
        python: str = sys.executable,
        workdir: Path | None = None,
        start_timeout_s: float = 90.0,
    ) -> None:
        self.model = model
        self.law = law if law is not None else ServiceLaw()
        self.python = python
        self.start_timeout_s = start_timeout_s
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="triton-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "triton.log"
        self.http_port, self.metrics_port, self.grpc_port = free_ports(3)
        self.name = name if name is not None else f"triton-{self.http_port}"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        """KServe-v2 base URL, e.g. ``http://127.0.0.1:8000``."""
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        """Triton's Prometheus endpoint."""
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    @property
    def metrics_address(self) -> str:
        """``host:port`` to give Prometheus as the scrape target."""
        return f"{LOOPBACK}:{self.metrics_port}"

    @property
    def pid(self) -> int | None:
        """Process id of the child, which is also its process-group id."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def argv(self) -> list[str]:
        law = self.law
        return [
            self.python,
            "-m",
            "scaler.testbed.triton_model",
            f"--http-port={self.http_port}",
            f"--metrics-port={self.metrics_port}",
            f"--grpc-port={self.grpc_port}",
            f"--model={self.model}",
            f"--base-ms={law.base_ms}",
            f"--per-item-ms={law.per_item_ms}",
            f"--max-batch={law.max_batch}",
            f"--max-queue-delay-us={law.max_queue_delay_us}",
            f"--workspace={self.workdir / 'workspace'}",
            f"--host={LOOPBACK}",
        ]

    def start(self, env: Mapping[str, str] | None = None, *, attempts: int = 3) -> None:
        """Start the child and wait until ``/v2/models/<model>/ready`` answers 200.

        The server-level ``/v2/health/ready`` turns 200 before pytriton has loaded
        the model, so the model's own endpoint is what is waited on. If a port was
        taken between choosing it and Triton binding it, new ports are tried, up to
        ``attempts`` starts in all.
        """
        if self.running:
            return
        tmp = self.workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        child_env = {**(env if env is not None else os.environ), "TMPDIR": str(tmp)}
        for attempt in range(1, attempts + 1):
            self._proc = start_group(self.argv(), log_path=self.log_path, env=child_env)
            try:
                wait_http_ready(
                    f"{self.http_url}/v2/models/{self.model}/ready",
                    timeout_s=self.start_timeout_s,
                    proc=self._proc,
                    log_path=self.log_path,
                    poll_s=0.2,
                )
                wait_http_ready(
                    f"{self.http_url}/v2/health/ready",
                    timeout_s=self.start_timeout_s,
                    proc=self._proc,
                    log_path=self.log_path,
                )
                return
            except ChildError:
                self.stop()
                if attempt == attempts or not port_clash(self.log_path):
                    raise
                self.http_port, self.metrics_port, self.grpc_port = free_ports(3)

    def stop(self, term_timeout_s: float = 10.0) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after ``term_timeout_s``."""
        if self._proc is not None:
            stop_group(self._proc, term_timeout_s=term_timeout_s)
            self._proc = None

    def close(self) -> None:
        """Stop, and delete the work dir if this object created it."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
