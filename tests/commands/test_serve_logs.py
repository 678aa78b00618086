"""`scaler serve` as an operator sees it: every line JSON on stdout (start-up, rejected
RPCs once per minute, urllib3 retries, SIGTERM), a busy port named in one line with exit
code 2, and a help text readable at 80 columns with its defaults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from typer.testing import CliRunner

from scaler.cli import app
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"policy": "threshold", "target": "50", "maxReplicas": "20"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALER_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(
        SCALER_METRICS_LISTEN="",
        SCALER_DASHBOARD_LISTEN="",
        SCALER_PROMETHEUS_URL="http://127.0.0.1:9",
        SCALER_KUBERNETES_API="false",
        SCALER_GRACE_PERIOD_S="1",
        SCALER_REFRESH_INTERVAL_S="1",
    )
    env.update(settings)
    return env


def _serve(**settings: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scaler.cli", "serve"],
        env=_env(**settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    proc = _serve(SCALER_GRPC_LISTEN=f"127.0.0.1:{port}")
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_every_line_is_json_on_stdout_including_rejections_retries_and_sigterm(
    served: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = served
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        stub = pb_grpc.ExternalScalerStub(ch)
        bad = pb.ScaledObjectRef(name="so", namespace="ns", scalerMetadata={"target": "-1"})
        for _ in range(5):
            with pytest.raises(grpc.RpcError) as err:
                stub.GetMetricSpec(bad, timeout=5)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        good = pb.ScaledObjectRef(name="ok", namespace="ns", scalerMetadata=GOOD)
        stub.GetMetricSpec(good, timeout=5)
        # Prometheus is down: the refresher's queries are refused and retried once.
        time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert err == "", err
    lines = _json_lines(out)
    messages = [str(line.get("message", "")) for line in lines]
    assert any("serving KEDA external scaler" in m for m in messages)
    assert any("signal 15" in m and "shutting down" in m for m in messages)
    rejected = [line for line in lines if line.get("event") == "rpc_rejected"]
    assert len(rejected) == 1, "five rejections of one object in a minute: one line"
    assert rejected[0]["method"] == "GetMetricSpec"
    assert rejected[0]["code"] == "INVALID_ARGUMENT"
    assert rejected[0]["object"] == "ns/so"
    assert "target" in rejected[0]["reason"]
    assert rejected[0]["level"] == "WARNING"
    assert any(
        line["logger"] == "urllib3.connectionpool" and "Retrying" in line["message"]
        for line in lines
    )


def _busy(kind: str) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    busy = f"127.0.0.1:{holder.getsockname()[1]}"
    settings = {
        "SCALER_GRPC_LISTEN": f"127.0.0.1:{_free_port()}",
        f"SCALER_{kind.upper()}_LISTEN": busy,
    }
    if kind == "dashboard":
        settings["SCALER_OVERRIDES_FILE"] = os.devnull
    try:
        proc = _serve(**settings)
        out, err = proc.communicate(timeout=60)
    finally:
        holder.close()
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err
    errors = [line for line in _json_lines(out) if line["level"] == "ERROR"]
    assert len(errors) == 1, out
    assert busy in errors[0]["message"] and kind in errors[0]["message"].lower()
    assert err == ""


@pytest.mark.parametrize("kind", ["grpc", "metrics", "dashboard"])
def test_a_busy_port_is_one_error_line_naming_the_address_and_exit_2(kind: str) -> None:
    _busy(kind)


def test_serve_help_fits_80_columns_and_shows_defaults() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    text = result.output
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for flag in ("--prometheus-timeout-s", "--overrides-configmap", "--prometheus-verify-tls"):
        assert flag in text
    assert "SCALER_PROMETHEUS_TIMEOUT_S" in text
    flat = " ".join(text.split())
    assert "[default: 0.0.0.0:9100]" in flat
    assert "[default: 5.0]" in flat
    assert "[default: true]" in flat
