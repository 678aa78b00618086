"""`scaler serve`: discoverable flags and a clean start/stop as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from typer.testing import CliRunner

from scaler.cli import app

SCALER = Path(sys.executable).parent / "scaler"


def test_serve_help_lists_every_flag_and_its_env() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--grpc-listen", "--prometheus-url", "--refresh-interval-s", "--tls-cert-file"):
        assert flag in result.output
    assert "SCALER_PROMETHEUS_URL" in result.output


def test_serve_rejects_a_bad_setting_with_its_name() -> None:
    result = CliRunner().invoke(app, ["serve", "--refresh-interval-s", "-1"])
    assert result.exit_code != 0
    assert "refresh_interval_s" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_reports_healthy_and_stops_on_sigterm() -> None:
    port = _free_port()
    env = {
        **os.environ,
        "SCALER_GRPC_LISTEN": f"127.0.0.1:{port}",
        "SCALER_METRICS_LISTEN": "",
        "SCALER_PROMETHEUS_URL": "http://127.0.0.1:9",
    }
    proc = subprocess.Popen([str(SCALER), "serve", "--grace-period-s", "1"], env=env)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            grpc.channel_ready_future(ch).result(timeout=20)
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service="externalscaler.ExternalScaler"), timeout=5
            )
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            time.sleep(0.1)
