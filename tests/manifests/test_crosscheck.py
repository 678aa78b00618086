"""The manifests and the code agree: env names, ports, paths, probes, RBAC and
ScaledObject metadata keys are checked against scaler/, so neither can drift."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from scaler.kube import CONFIGMAP_ACCESS, TARGET_ACCESS
from scaler.metadata import parse_metadata
from scaler.registry import available_policies
from scaler.server import SERVICE_NAME
from scaler.settings import ServerSettings
from tests.manifests.rendered import (
    EXAMPLES,
    MANIFESTS,
    OVERLAYS,
    Obj,
    all_scaled_objects,
    by_kind,
    container,
    example,
    one,
    port_of,
    render,
)

FIELDS = ServerSettings.model_fields
ENV_PREFIX = str(ServerSettings.model_config.get("env_prefix", ""))


def _is_secret(field: str) -> bool:
    return "SecretStr" in str(FIELDS[field].annotation) or FIELDS[field].annotation is SecretStr


def _field(env: str) -> str:
    assert env.startswith(ENV_PREFIX), f"{env}: not a {ENV_PREFIX}* setting"
    name = env[len(ENV_PREFIX) :].lower()
    assert name in FIELDS, f"{env} is not read by scaler.settings.ServerSettings"
    return name


def _settings(objs: tuple[Obj, ...]) -> tuple[dict[str, str], set[str]]:
    """(ConfigMap data, Secret keys) that the scaler container gets through envFrom."""
    c = container(one(objs, "Deployment", "sonic-scaler"))
    config: dict[str, str] = {}
    secret_keys: set[str] = set()
    for source in c["envFrom"]:
        if "configMapRef" in source:
            config |= one(objs, "ConfigMap", source["configMapRef"]["name"]).get("data", {})
        if "secretRef" in source:
            s = one(objs, "Secret", source["secretRef"]["name"])
            secret_keys |= set(s.get("data", {})) | set(s.get("stringData", {}))
    return config, secret_keys


def _ports(objs: tuple[Obj, ...]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container(one(objs, "Deployment"))["ports"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_configured_setting_is_one_the_code_reads(overlay: str) -> None:
    config, secret_keys = _settings(render(overlay))
    for env in config:
        field = _field(env)
        assert not _is_secret(field), f"{env} is a secret: put it in the Secret, not the ConfigMap"
    for env in secret_keys:
        assert _is_secret(_field(env)), f"{env} is not a secret setting"
    ServerSettings.model_validate({_field(k): v for k, v in config.items()})


def test_every_secret_setting_is_documented_where_operators_add_secrets() -> None:
    documented = (MANIFESTS / "base" / "secret.env").read_text()
    for name in FIELDS:
        if _is_secret(name):
            assert f"{ENV_PREFIX}{name.upper()}" in documented


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_listen_ports_match_container_service_probe_and_networkpolicy(overlay: str) -> None:
    objs = render(overlay)
    config, _ = _settings(objs)
    ports = _ports(objs)
    listen = {
        "grpc": config.get("SCALER_GRPC_LISTEN", FIELDS["grpc_listen"].default),
        "metrics": config.get("SCALER_METRICS_LISTEN", FIELDS["metrics_listen"].default),
    }
    dashboard = config.get("SCALER_DASHBOARD_LISTEN", FIELDS["dashboard_listen"].default)
    assert dashboard, "the manifests serve the dashboard (port 9102)"
    assert port_of(dashboard) == 9102
    # Loopback only (issue 13): reached by port-forward, so no port, Service or rule.
    assert dashboard.rpartition(":")[0] == "127.0.0.1"
    for name, value in listen.items():
        assert ports[name] == port_of(value), f"container port {name} vs {value}"
    service = one(objs, "Service", "sonic-scaler")
    for p in service["spec"]["ports"]:
        assert p["port"] == ports[p["name"]] and p["targetPort"] == p["name"]
    assert {p["name"] for p in service["spec"]["ports"]} == set(listen)
    policy = one(objs, "NetworkPolicy", "sonic-scaler")
    allowed = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert allowed == set(listen)


def test_grpc_is_reachable_only_from_the_keda_namespace() -> None:
    policy = one(render("default"), "NetworkPolicy", "sonic-scaler")
    grpc_rules = [
        r for r in policy["spec"]["ingress"] if {"port": "grpc", "protocol": "TCP"} in r["ports"]
    ]
    assert len(grpc_rules) == 1
    assert grpc_rules[0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}
    ]
    assert "Ingress" in policy["spec"]["policyTypes"]


def test_metrics_are_scraped_from_the_port_and_path_the_scaler_serves() -> None:
    objs = render("default")
    annotations = one(objs, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == _ports(objs)["metrics"]


def test_probes_ask_the_grpc_health_service_on_the_grpc_port() -> None:
    objs = render("default")
    c = container(one(objs, "Deployment"))
    grpc_port = _ports(objs)["grpc"]
    assert c["livenessProbe"]["grpc"] == {"port": grpc_port, "service": ""}
    assert c["readinessProbe"]["grpc"] == {"port": grpc_port, "service": SERVICE_NAME}
    assert c["startupProbe"]["grpc"]["port"] == grpc_port


def test_with_mtls_the_probes_use_the_tls_health_check_and_the_mounted_certificate() -> None:
    objs = render("mtls")
    config, _ = _settings(objs)
    c = container(one(objs, "Deployment"))
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert "grpc" not in c[probe], "the kubelet's gRPC probe cannot speak TLS"
        assert c[probe]["exec"]["command"][0] == "sonic-scaler-healthcheck"
    assert c["readinessProbe"]["exec"]["command"][1:] == [SERVICE_NAME]
    mount = next(m for m in c["volumeMounts"] if m["name"] == "tls")["mountPath"]
    for key, file in (("CERT", "tls.crt"), ("KEY", "tls.key"), ("CLIENT_CA", "ca.crt")):
        assert config[f"SCALER_TLS_{key}_FILE"] == f"{mount}/{file}"
    service = one(objs, "Service")
    name = {e["name"]: e["value"] for e in c["env"]}["HEALTHCHECK_SERVER_NAME"]
    assert name == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"


def test_shutdown_finishes_within_the_termination_grace_period() -> None:
    objs = render("default")
    config, _ = _settings(objs)
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    grace = float(config.get("SCALER_GRACE_PERIOD_S", FIELDS["grace_period_s"].default))
    pre_stop = container(one(objs, "Deployment"))["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > grace + float(pre_stop[1])


def test_the_pod_is_hardened_and_highly_available() -> None:
    objs = render("default")
    deployment = one(objs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(c["resources"]["limits"])
    pdb = one(objs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    assert pdb["spec"]["minAvailable"] == 1
    service = one(objs, "Service")
    assert service["spec"]["clusterIP"] == "None", "headless: KEDA round-robins over pod IPs"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def _granted(objs: tuple[Obj, ...], role_kind: str, role_name: str) -> set[tuple[str, str, str]]:
    role = one(objs, role_kind, role_name)
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _bindings_for(objs: tuple[Obj, ...], sa: Obj) -> list[Obj]:
    subject = {
        "kind": "ServiceAccount",
        "name": sa["metadata"]["name"],
        "namespace": sa["metadata"]["namespace"],
    }
    return [b for b in by_kind(objs, "RoleBinding") if subject in b["subjects"]]


def test_rbac_grants_exactly_what_scaler_kube_calls() -> None:
    objs = render("supersonic-example")
    deployment = one(objs, "Deployment")
    sa = one(objs, "ServiceAccount", deployment["spec"]["template"]["spec"]["serviceAccountName"])
    assert not by_kind(objs, "ClusterRoleBinding"), "no cluster-wide grants"
    bindings = _bindings_for(objs, sa)
    target_namespaces = {so["metadata"]["namespace"] for so in by_kind(objs, "ScaledObject")}
    readers = [b for b in bindings if b["roleRef"]["kind"] == "ClusterRole"]
    assert {b["metadata"]["namespace"] for b in readers} >= target_namespaces
    for b in readers:
        assert _granted(objs, "ClusterRole", b["roleRef"]["name"]) == set(TARGET_ACCESS)
    config, _ = _settings(objs)
    cm_namespace, _, cm_name = config["SCALER_OVERRIDES_CONFIGMAP"].partition("/")
    one(objs, "ConfigMap", cm_name)
    role_bindings = [b for b in bindings if b["roleRef"]["kind"] == "Role"]
    assert len(role_bindings) == 1
    role = one(objs, "Role", role_bindings[0]["roleRef"]["name"])
    assert role["metadata"]["namespace"] == cm_namespace
    assert all(rule["resourceNames"] == [cm_name] for rule in role["rules"])
    granted = _granted(objs, "Role", role["metadata"]["name"])
    assert set(CONFIGMAP_ACCESS) <= granted <= set(CONFIGMAP_ACCESS) | {("", "configmaps", "patch")}


def test_the_overrides_configmap_ships_without_data_so_apply_keeps_overrides() -> None:
    objs = render("default")
    config, _ = _settings(objs)
    cm = one(objs, "ConfigMap", config["SCALER_OVERRIDES_CONFIGMAP"].partition("/")[2])
    assert "data" not in cm


def _trigger(so: Obj) -> Obj:
    triggers = [t for t in so["spec"]["triggers"] if t["type"] in ("external", "external-push")]
    assert len(triggers) == 1
    trigger: Obj = triggers[0]
    return trigger


def test_every_scaledobject_points_at_the_scalers_service() -> None:
    objs = render("default")
    service = one(objs, "Service")
    grpc_port = _ports(objs)["grpc"]
    address = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc:{grpc_port}"
    for where, so in all_scaled_objects():
        assert _trigger(so)["metadata"]["scalerAddress"] == address, where


def test_every_scaledobject_has_fallback_behavior_and_a_metric_type_keda_can_fall_back_on() -> None:
    for where, so in all_scaled_objects():
        spec = so["spec"]
        assert spec["fallback"]["behavior"] == "currentReplicasIfHigher", where
        assert spec["fallback"]["replicas"] >= 1, where
        assert _trigger(so).get("metricType", "AverageValue") == "AverageValue", where
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0, where
        assert behavior["scaleDown"]["policies"], where


def test_scale_from_zero_uses_external_push_and_an_activation_metric() -> None:
    for where, so in all_scaled_objects():
        if so["spec"].get("minReplicaCount", 0) == 0:
            trigger = _trigger(so)
            assert trigger["type"] == "external-push", where
            assert trigger["metadata"].get("activationMetric"), where


def test_metadata_bounds_match_the_scaledobjects_replica_counts() -> None:
    for where, so in all_scaled_objects():
        meta = _trigger(so)["metadata"]
        assert int(meta["minReplicas"]) == so["spec"].get("minReplicaCount", 0), where
        assert int(meta["maxReplicas"]) == so["spec"]["maxReplicaCount"], where


def test_examples_target_the_supersonic_release_label_scheme() -> None:
    for policy in EXAMPLES:
        so = example(policy)
        meta = _trigger(so)["metadata"]
        assert so["spec"]["scaleTargetRef"]["name"] == f"{meta['release']}-triton"
        assert meta["namespace"] == so["metadata"]["namespace"]
        assert meta["policy"] == policy


def test_every_example_metadata_is_accepted_by_the_scaler(capsys: Any) -> None:
    """Parses each example with the policy it names, for every policy registered now."""
    registered = available_policies()
    parsed = []
    for where, so in all_scaled_objects():
        meta = _trigger(so)["metadata"]
        if meta.get("policy", "threshold") not in registered:
            continue
        config = parse_metadata(so["metadata"]["name"], so["metadata"]["namespace"], meta)
        assert config.policy.name == meta["policy"]
        parsed.append(where)
    with capsys.disabled():
        print(f"\nparsed ScaledObject metadata: {', '.join(parsed)}")
    assert "examples/threshold" in parsed
    assert {f"examples/{p}" for p in EXAMPLES if p in registered} <= set(parsed)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_trigger_names_a_prometheus_its_scaler_allows(overlay: str) -> None:
    """Each ScaledObject's serverAddress passes the check the scaler rendered with it
    runs (so `kubectl apply -k` of the overlay works without INVALID_ARGUMENT)."""
    from scaler.own_metrics import build_metrics
    from scaler.prometheus_pool import PrometheusPool

    objs = render(overlay)
    config, _ = _settings(objs)
    env = {_field(k): v for k, v in config.items()}
    pool = PrometheusPool(ServerSettings(**env), build_metrics())
    for so in by_kind(objs, "ScaledObject"):
        meta = _trigger(so)["metadata"]
        pool.check(parse_metadata(so["metadata"]["name"], so["metadata"]["namespace"], meta))


def test_the_two_release_overlay_reads_each_release_from_its_own_prometheus() -> None:
    objs = render("two-releases")
    addresses = {
        so["metadata"]["namespace"]: _trigger(so)["metadata"]["serverAddress"]
        for so in by_kind(objs, "ScaledObject")
    }
    assert len(addresses) == 2 and len(set(addresses.values())) == 2
    rolebindings = {rb["metadata"]["namespace"] for rb in by_kind(objs, "RoleBinding")}
    assert set(addresses) <= rolebindings
    creds = [
        k
        for so in by_kind(objs, "ScaledObject")
        for k in _trigger(so)["metadata"]
        if "FromEnv" in k
    ]
    assert creds == ["bearerTokenFromEnv"]
