"""The wheel, installed the way the image installs it, works outside the source tree.

The Dockerfile's build stage is replayed here: its COPY lines copy from the repository
into a temporary build context, its RUN lines run as written (``/opt/venv`` becomes a
temporary folder; no container engine is needed), and the resulting venv runs the image's
ENTRYPOINT/CMD with the shipped ``manifests/base/config.env`` (ports, Prometheus and the
overrides store adapted to loopback), from a directory outside the repository and with no
``PYTHONPATH``. Needs the package index (or pip's local caches) like ``make setup``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

# Installing every dependency into a fresh venv takes minutes on a busy 2-core machine.
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
IMAGE_VENV = "/opt/venv"


@dataclass(frozen=True)
class Installed:
    """The replayed build stage: its context folder and the venv the image would ship."""

    context: Path
    venv: Path
    home: Path
    """An empty folder outside the repository to run commands from."""

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SCALER_"))}
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        env["PYTHONUNBUFFERED"] = "1"
        env["COLUMNS"] = "80"
        return {**env, **extra}

    def run(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            cwd=self.home,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _build_stage() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile's first stage, continuations joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out: list[tuple[str, str]] = []
    stages = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages += 1
            continue
        if stages == 1:
            out.append((word.upper(), rest.strip()))
    return out


def _replay_build_stage(context: Path, venv: Path) -> None:
    """COPY, ENV, WORKDIR and RUN of the build stage, as a container build would."""
    shim = context.parent / "base-bin"
    shim.mkdir()
    # The base image's `python`: this machine's interpreter (the one the tests run on).
    (shim / "python").symlink_to(Path(sys._base_executable))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SCALER_"))}
    env["PATH"] = f"{shim}:{env.get('PATH', '/usr/bin:/bin')}"
    for word, rest in _build_stage():
        rest = rest.replace(IMAGE_VENV, str(venv))
        if word == "COPY":
            *sources, dest = rest.split()
            for source in sources:
                src, target = ROOT / source, context / dest
                if src.is_dir():
                    shutil.copytree(
                        src,
                        target,
                        symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                        dirs_exist_ok=True,
                    )
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name)
        elif word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                env[key] = value.replace("$PATH", env["PATH"])
            # The image builds without pip's cache; the test keeps it (same result, faster).
            env.pop("PIP_NO_CACHE_DIR", None)
        elif word == "RUN":
            proc = subprocess.run(
                ["sh", "-c", rest],
                cwd=context,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert proc.returncode == 0, f"RUN {rest}\n{proc.stdout}\n{proc.stderr}"
        elif word in ("WORKDIR", "ARG"):
            continue
        else:
            raise AssertionError(f"the wheel test does not know how to replay {word}")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("image")
    assert ROOT not in base.parents, "the install must happen outside the repository"
    context, venv, home = base / "src", base / "venv", base / "home"
    context.mkdir()
    home.mkdir()
    _replay_build_stage(context, venv)
    yield Installed(context=context, venv=venv, home=home)


def test_the_wheel_holds_the_dashboard_assets_and_bundled_traces(installed: Installed) -> None:
    wheels = list((installed.context / "dist").glob("sonic_scaler-*.whl"))
    assert len(wheels) == 1
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    for name in (
        "scaler/dashboard/static/app.js",
        "scaler/dashboard/static/style.css",
        "scaler/dashboard/templates/base.html",
        "scaler/traces/data/ligo.csv",
        "scaler/traces/data/azure2023_AzureLLMInferenceTrace_code.csv",
        "scaler/traces/data/azure2023_AzureLLMInferenceTrace_conv.csv",
        "scaler/traces/data/worldcup98.csv.gz",
        "scaler/traces/data/nasa1995_day26_5days.csv.gz",
        "scaler/traces/data/index.yaml",
        "scaler/traces/data/NOTICE.md",
        "scaler/keda_proto/externalscaler_pb2_grpc.py",
    ):
        assert name in names, name
    tops = {n.split("/", 1)[0] for n in names if not n.startswith("sonic_scaler-")}
    assert tops == {"scaler", "policies"}, "no top-level 'proto' (proto-plus's import name)"


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    proc = installed.run(
        "python", "-c", "import scaler, policies; print(scaler.__file__, policies.__file__)"
    )
    assert proc.returncode == 0, proc.stderr
    for path in proc.stdout.split():
        assert Path(path).is_relative_to(installed.venv), path


def test_grpc_packages_are_installed_at_one_version(installed: Installed) -> None:
    proc = installed.run("python", "-m", "pip", "list", "--format", "json")
    versions = {p["name"].lower(): p["version"] for p in json.loads(proc.stdout)}
    assert versions["grpcio"] == versions["grpcio-health-checking"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config_env() -> dict[str, str]:
    """The shipped manifests/base/config.env as a dict."""
    out = {}
    for line in (ROOT / "manifests" / "base" / "config.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read()


def test_scaler_serve_with_the_shipped_config_answers_health_and_the_dashboard(
    installed: Installed,
) -> None:
    grpc_port, metrics_port, dashboard_port = _free_port(), _free_port(), _free_port()
    env = _config_env()
    assert env["SCALER_DASHBOARD_LISTEN"], "the shipped config turns the dashboard on"
    env.update(
        SCALER_GRPC_LISTEN=f"127.0.0.1:{grpc_port}",
        SCALER_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
        SCALER_DASHBOARD_LISTEN=f"127.0.0.1:{dashboard_port}",
        SCALER_PROMETHEUS_URL="http://127.0.0.1:9",
        # No cluster here: the overrides live in a file instead of the ConfigMap.
        SCALER_OVERRIDES_CONFIGMAP="",
        SCALER_OVERRIDES_FILE=str(installed.home / "overrides.json"),
        SCALER_KUBERNETES_API="false",
        SCALER_GRACE_PERIOD_S="1",
    )
    # The image's ENTRYPOINT + CMD.
    proc = subprocess.Popen(
        ["scaler", "serve"],
        cwd=installed.home,
        env=installed.env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as ch:
            grpc.channel_ready_future(ch).result(timeout=30)
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service="externalscaler.ExternalScaler"), timeout=5
            )
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = _get(f"http://127.0.0.1:{dashboard_port}/")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "no dashboard"
                time.sleep(0.2)
        assert status == 200 and b"<html" in body.lower()
        assert _get(f"http://127.0.0.1:{dashboard_port}/static/style.css")[0] == 200
        assert _get(f"http://127.0.0.1:{metrics_port}/metrics")[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err, err


def test_the_design_card_command_runs_from_the_wheel_by_bundled_name(
    installed: Installed,
) -> None:
    """``scaler simulate --trace ligo.csv`` from a folder without that file resolves the
    wheel's bundled trace, and says so."""
    assert not (installed.home / "ligo.csv").exists()
    out = installed.home / "summary.json"
    proc = installed.run(
        "scaler", "simulate", "--trace", "ligo.csv", "--policy", "threshold", "--json", str(out)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bundled trace" in proc.stdout + proc.stderr
    summary = json.loads(out.read_text())
    assert [p["name"] for p in summary["policies"]][:1] == ["threshold"]
    assert summary["requests"] > 0


def test_trace_list_shows_every_bundled_trace_from_the_wheel(installed: Installed) -> None:
    proc = installed.run("scaler", "trace", "list", COLUMNS="200")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("ligo", "azure_code", "azure_conv", "worldcup98", "nasa1995"):
        assert name in proc.stdout, name


def test_scaler_demo_help_works_and_the_testbed_names_its_missing_extra(
    installed: Installed,
) -> None:
    proc = installed.run("scaler", "demo", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--seconds" in proc.stdout
    proc = installed.run("scaler", "demo")
    assert proc.returncode == 2
    assert "sonic-scaler[testbed]" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
