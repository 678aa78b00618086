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
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc

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


def _reader_pid(serve_pid: int, timeout_s: float = 20.0) -> int:
    """The Prometheus reader process `scaler serve` started (a spawned child)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        kids = Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split()
        for kid in kids:
            cmdline = Path(f"/proc/{kid}/cmdline").read_bytes()
            if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
                return int(kid)
        time.sleep(0.1)
    raise AssertionError("no Prometheus reader process")


def test_serve_fails_its_health_check_while_the_prometheus_reader_is_stalled() -> None:
    """The reader runs under SCHED_IDLE and may get no CPU on a busy node; a stopped
    reader stands for that. Health must fail (so the liveness probe acts) and recover."""
    port = _free_port()
    env = {
        **os.environ,
        "SCALER_GRPC_LISTEN": f"127.0.0.1:{port}",
        "SCALER_METRICS_LISTEN": "",
        "SCALER_PROMETHEUS_URL": "http://127.0.0.1:9",
        "SCALER_PROMETHEUS_READER_STALL_S": "1",
    }
    proc = subprocess.Popen(
        [str(SCALER), "serve", "--grace-period-s", "1"], env=env, stdout=subprocess.PIPE
    )
    reader = 0
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            grpc.channel_ready_future(ch).result(timeout=20)
            health = health_pb2_grpc.HealthStub(ch)

            def status() -> int:
                request = health_pb2.HealthCheckRequest(service="")
                return int(health.Check(request, timeout=5).status)

            def wait_for(wanted: int) -> int:
                deadline = time.monotonic() + 15
                while (got := status()) != wanted and time.monotonic() < deadline:
                    time.sleep(0.1)
                return got

            serving = health_pb2.HealthCheckResponse.SERVING
            assert status() == serving
            # A decision (here a cold start on an unreachable Prometheus) means the
            # reader is up and has answered.
            stub = pb_grpc.ExternalScalerStub(ch)
            ref = pb.ScaledObjectRef(name="o", namespace="ns", scalerMetadata={"target": "1"})
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=5)
                    break
                except grpc.RpcError as exc:
                    if "not ready yet" not in (exc.details() or ""):
                        break
                time.sleep(0.2)
            reader = _reader_pid(proc.pid)
            os.kill(reader, signal.SIGSTOP)
            assert wait_for(health_pb2.HealthCheckResponse.NOT_SERVING) != serving
            os.kill(reader, signal.SIGCONT)
            reader = 0
            assert wait_for(serving) == serving
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert b"prometheus_reader_stalled" in out
        assert b"prometheus_reader_recovered" in out
    finally:
        if reader:
            os.kill(reader, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            time.sleep(0.1)
