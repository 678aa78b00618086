"""The Kubernetes API code against a local fake API server (tests/fake_kube_api.py)."""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scaler.kube import KubeClient, KubeError, KubeErrorKind, ReplicaCount
from tests.fake_kube_api import Deployment, FakeApi, StoredConfigMap, serve

NS = "cms"
TRITON = "supersonic-triton"


@pytest.fixture
def api() -> FakeApi:
    return FakeApi(deployments={(NS, TRITON): Deployment(3, 3, 2)})


@pytest.fixture
def url(api: FakeApi) -> Iterator[str]:
    with serve(api) as base:
        yield base


@pytest.fixture
def kube(url: str) -> KubeClient:
    return KubeClient.for_url(url, token="sa-token", timeout_s=2.0)


def test_replicas_come_from_the_scale_subresource_and_deployment_status(
    kube: KubeClient, api: FakeApi
) -> None:
    assert kube.get_replicas(NS, TRITON) == ReplicaCount(
        spec_replicas=3, current_replicas=3, ready_replicas=2
    )
    paths = [r.path for r in api.requests]
    assert paths == [
        f"/apis/apps/v1/namespaces/{NS}/deployments/{TRITON}/scale",
        f"/apis/apps/v1/namespaces/{NS}/deployments/{TRITON}",
    ]
    assert all(r.headers.get("authorization") == "Bearer sa-token" for r in api.requests)


def test_a_deployment_at_zero_reports_zero_ready_replicas(kube: KubeClient, api: FakeApi) -> None:
    api.deployments[(NS, TRITON)] = Deployment(0, 0, None)
    assert kube.read_replicas(NS, TRITON) == ReplicaCount(0, 0, 0)


def test_forbidden_names_the_missing_rbac_verb_and_resource(kube: KubeClient, api: FakeApi) -> None:
    api.forbidden.add(("GET", "scale"))
    with pytest.raises(KubeError) as err:
        kube.get_replicas(NS, TRITON)
    assert err.value.kind is KubeErrorKind.FORBIDDEN
    assert err.value.status == 403
    message = str(err.value)
    assert "verb 'get'" in message
    assert "resource 'deployments/scale'" in message
    assert f"namespace '{NS}'" in message
    assert "apiGroups: ['apps']" in message
    assert "cannot get this resource" in message


def test_forbidden_deployment_read_names_deployments(kube: KubeClient, api: FakeApi) -> None:
    api.forbidden.add(("GET", "deployment"))
    with pytest.raises(KubeError, match="resource 'deployments'"):
        kube.get_replicas(NS, TRITON)


def test_a_missing_target_is_not_found(kube: KubeClient) -> None:
    with pytest.raises(KubeError) as err:
        kube.get_replicas(NS, "nope-triton")
    assert err.value.kind is KubeErrorKind.NOT_FOUND
    assert f"{NS}/nope-triton" in str(err.value)
    assert 'deployments.apps "nope-triton" not found' in str(err.value)


def test_read_replicas_turns_api_errors_into_none_and_one_warning(
    kube: KubeClient, api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.forbidden.add(("GET", "scale"))
    with caplog.at_level(logging.WARNING, logger="scaler.kube"):
        assert kube.read_replicas(NS, TRITON) is None
        api.forbidden.clear()
        assert kube.read_replicas(NS, "absent") is None
    assert len(caplog.records) == 2
    assert "403 forbidden" in caplog.records[0].getMessage()
    assert "404 not found" in caplog.records[1].getMessage()


def test_a_stalled_api_server_is_a_timeout_after_one_attempt(url: str, api: FakeApi) -> None:
    api.stall_s = 30.0
    kube = KubeClient.for_url(url, timeout_s=0.3)
    with pytest.raises(KubeError) as err:
        kube.get_replicas(NS, TRITON)
    assert err.value.kind is KubeErrorKind.TIMEOUT
    assert "0.3 s" in str(err.value)
    assert len(api.requests) == 1, "no hidden retries: a hung API costs one timeout"
    assert kube.read_replicas(NS, TRITON) is None


def test_an_unreachable_api_server_is_reported_as_such() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kube = KubeClient.for_url(f"http://127.0.0.1:{port}", timeout_s=1.0)
    with pytest.raises(KubeError) as err:
        kube.get_replicas(NS, TRITON)
    assert err.value.kind is KubeErrorKind.UNREACHABLE


def test_a_response_that_is_not_json_is_a_bad_response(kube: KubeClient, api: FakeApi) -> None:
    api.raw_body = b"<html>proxy error</html>"
    with pytest.raises(KubeError) as err:
        kube.get_replicas(NS, TRITON)
    assert err.value.kind is KubeErrorKind.BAD_RESPONSE


def test_negative_replicas_in_a_response_are_rejected(kube: KubeClient, api: FakeApi) -> None:
    api.deployments[(NS, TRITON)] = Deployment(-1, 0, 0)
    with pytest.raises(KubeError, match=r"unexpected response at spec\.replicas"):
        kube.get_replicas(NS, TRITON)


def test_kubeconfig_credentials_are_used(url: str, api: FakeApi, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": {"server": url}}],
                "users": [{"name": "operator", "user": {"token": "kubeconfig-token"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "local", "user": "operator"}}],
                "current-context": "ctx",
            }
        )
    )
    kube = KubeClient.from_environment(kubeconfig=kubeconfig, environ={})
    assert kube.get_replicas(NS, TRITON).ready_replicas == 2
    assert api.requests[0].headers.get("authorization") == "Bearer kubeconfig-token"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the API server's) and its key."""
    out = tmp_path_factory.mktemp("tls")
    cert, key = out / "tls.crt", out / "tls.key"
    args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    args += ["-subj", "/CN=kubernetes", "-addext", "subjectAltName=IP:127.0.0.1"]
    args += ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", *args],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_in_cluster_uses_the_service_account_token_and_ca(
    api: FakeApi, tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = tls_files
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text("projected-token")
    (sa / "ca.crt").write_bytes(cert.read_bytes())
    with serve(api, tls=tls) as base:
        port = base.rsplit(":", 1)[1]
        kube = KubeClient.from_environment(
            environ={"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port},
            service_account_dir=sa,
        )
        assert kube.host == f"https://127.0.0.1:{port}"
        assert kube.get_replicas(NS, TRITON).spec_replicas == 3
    assert api.requests[0].headers.get("authorization", "").lower() == "bearer projected-token"


def test_in_cluster_without_a_token_file_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(KubeError) as err:
        KubeClient.from_environment(
            environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"},
            service_account_dir=tmp_path,
        )
    assert err.value.kind is KubeErrorKind.CONFIG
    assert "token file does not exist" in str(err.value)


def test_no_kubeconfig_and_not_in_a_pod_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(KubeError) as err:
        KubeClient.from_environment(kubeconfig=tmp_path / "missing", environ={})
    assert err.value.kind is KubeErrorKind.CONFIG


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        KubeClient.for_url("http://127.0.0.1:1", timeout_s=0)


@pytest.mark.parametrize(
    ("route", "method", "call"),
    [
        ("scale", "GET", "replicas"),
        ("deployment", "GET", "replicas"),
        ("configmap", "GET", "get_cm"),
        ("configmap", "PUT", "replace_cm"),
    ],
)
def test_every_call_needs_only_the_rbac_the_module_declares(
    kube: KubeClient, api: FakeApi, route: str, method: str, call: str
) -> None:
    from scaler.kube import CONFIGMAP_ACCESS, TARGET_ACCESS

    api.configmaps[("sonic-scaler", "o")] = StoredConfigMap({}, 5)
    api.forbidden.add((method, route))
    calls = {
        "replicas": lambda: kube.get_replicas(NS, TRITON),
        "get_cm": lambda: kube.get_config_map("sonic-scaler", "o"),
        "replace_cm": lambda: kube.replace_config_map("sonic-scaler", "o", {}, "5"),
    }
    with pytest.raises(KubeError) as err:
        calls[call]()
    declared = [
        f"apiGroups: [{group!r}], resources: [{resource!r}], verbs: [{verb!r}]"
        for group, resource, verb in (*TARGET_ACCESS, *CONFIGMAP_ACCESS)
    ]
    assert any(rule in str(err.value) for rule in declared), str(err.value)
