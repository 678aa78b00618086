"""The container image: the Dockerfile agrees with the code and the manifests, and its
health check really asks the gRPC health service, in plaintext and over mTLS.
(No container engine runs here, so the image itself is not built.)"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from scaler.server import SERVICE_NAME
from scaler.settings import ServerSettings
from tests.manifests.rendered import MANIFESTS, ROOT, container, one, port_of, render

DOCKERFILE = ROOT / "Dockerfile"
HEALTHCHECK = MANIFESTS / "image" / "healthcheck.py"
SERVER_NAME = "sonic-scaler.sonic-scaler.svc"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _all(word: str) -> list[str]:
    return [rest for w, rest in _instructions() if w == word]


def test_the_base_image_is_pinned_to_a_python_patch_release() -> None:
    arg = next(a for a in _all("ARG") if a.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", arg)
    assert _all("FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"], "multi-stage"


def test_the_image_installs_the_package_as_ci_does_and_runs_its_console_script() -> None:
    runs = " ".join(_all("RUN"))
    assert "python -m pip wheel --no-deps --wheel-dir dist ." in runs
    assert "python -m pip install --constraint constraints.txt dist/sonic_scaler-*.whl" in runs
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert _all("ENTRYPOINT") == [f'["{next(iter(scripts))}"]'] and "scaler" in scripts
    assert _all("CMD") == ['["serve"]']


def _dockerignored(path: str) -> bool:
    """Docker's rule: patterns in order, the last one that matches wins, ``!`` re-includes."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern = line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            ignored = not line.startswith("!")
    return ignored


def test_every_copied_path_exists_and_is_not_dockerignored() -> None:
    for copy in _all("COPY"):
        if "--from=" in copy:
            continue
        args = [a for a in copy.split() if not a.startswith("--")]
        for source in args[:-1]:
            assert (ROOT / source).exists(), source
            assert not _dockerignored(source), f"{source} is excluded by .dockerignore"
    assert _dockerignored("tests/test_kube.py") and _dockerignored(".venv/bin/python")


def test_the_image_runs_as_the_non_root_user_the_deployment_expects() -> None:
    user = _all("USER")[-1]
    uid, _, gid = user.partition(":")
    pod = one(render("default"), "Deployment")["spec"]["template"]["spec"]
    assert int(uid) == pod["securityContext"]["runAsUser"] != 0
    assert int(gid) == pod["securityContext"]["runAsGroup"]


def test_the_image_exposes_the_ports_the_settings_listen_on() -> None:
    fields = ServerSettings.model_fields
    expected = {port_of(fields["grpc_listen"].default), port_of(fields["metrics_listen"].default)}
    deployment = one(render("default"), "Deployment")
    expected |= {p["containerPort"] for p in container(deployment)["ports"]}
    assert {int(p) for e in _all("EXPOSE") for p in e.split()} == expected


def test_the_image_health_check_is_the_script_the_mtls_probes_run() -> None:
    assert "sonic-scaler-healthcheck" in _all("HEALTHCHECK")[0]
    copy = next(c for c in _all("COPY") if "healthcheck" in c)
    assert copy.split()[-2:] == [
        str(HEALTHCHECK.relative_to(ROOT)),
        "/usr/local/bin/sonic-scaler-healthcheck",
    ]


def _run_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def _start(creds: grpc.ServerCredentials | None) -> tuple[grpc.Server, health.HealthServicer, int]:
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    address = "127.0.0.1:0"
    port = server.add_secure_port(address, creds) if creds else server.add_insecure_port(address)
    server.start()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    return server, servicer, port


def test_plaintext_health_check_follows_the_serving_status() -> None:
    server, servicer, port = _start(None)
    try:
        env = {"SCALER_GRPC_LISTEN": f"0.0.0.0:{port}"}
        assert _run_check(env).returncode == 0
        assert _run_check(env, SERVICE_NAME).returncode == 0
        servicer.enter_graceful_shutdown()
        done = _run_check(env, SERVICE_NAME)
        assert done.returncode == 1
        assert "NOT_SERVING" in done.stderr
    finally:
        server.stop(None)


def test_nothing_listening_is_unhealthy() -> None:
    server, _, port = _start(None)
    server.stop(None).wait()
    done = _run_check({"SCALER_GRPC_LISTEN": f"0.0.0.0:{port}"})
    assert done.returncode == 1
    assert "unhealthy" in done.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, and a scaler certificate for SERVER_NAME with serverAuth and clientAuth."""
    d = tmp_path_factory.mktemp("pki")
    (d / "ext").write_text(
        f"subjectAltName=DNS:{SERVER_NAME}\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    key = ["-newkey", "rsa:2048", "-nodes"]
    steps = [
        ["req", "-x509", *key, "-days", "1", "-subj", "/CN=ca", "-keyout", "ca.key"],
        ["req", *key, "-subj", f"/CN={SERVER_NAME}", "-keyout", "tls.key", "-out", "tls.csr"],
        ["x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key"],
    ]
    steps[0] += ["-out", "ca.crt"]
    steps[2] += ["-CAcreateserial", "-days", "1", "-extfile", "ext", "-out", "tls.crt"]
    for step in steps:
        subprocess.run(["openssl", *step], cwd=d, check=True, capture_output=True)
    return {name: d / name for name in ("ca.crt", "tls.crt", "tls.key")}


@pytest.fixture
def mtls_server(pki: dict[str, Path]) -> Iterator[int]:
    creds = grpc.ssl_server_credentials(
        [(pki["tls.key"].read_bytes(), pki["tls.crt"].read_bytes())],
        root_certificates=pki["ca.crt"].read_bytes(),
        require_client_auth=True,
    )
    server, _, port = _start(creds)
    try:
        yield port
    finally:
        server.stop(None)


def test_mtls_health_check_presents_the_scalers_certificate(
    mtls_server: int, pki: dict[str, Path]
) -> None:
    env = {
        "SCALER_GRPC_LISTEN": f"0.0.0.0:{mtls_server}",
        "SCALER_TLS_CERT_FILE": str(pki["tls.crt"]),
        "SCALER_TLS_KEY_FILE": str(pki["tls.key"]),
        "SCALER_TLS_CLIENT_CA_FILE": str(pki["ca.crt"]),
        "HEALTHCHECK_SERVER_NAME": SERVER_NAME,
    }
    done = _run_check(env, SERVICE_NAME)
    assert done.returncode == 0, done.stderr


def test_mtls_health_check_without_tls_settings_is_refused(mtls_server: int) -> None:
    done = _run_check({"SCALER_GRPC_LISTEN": f"0.0.0.0:{mtls_server}"})
    assert done.returncode == 1
