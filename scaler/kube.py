"""The Kubernetes API, for the few things Prometheus cannot tell the scaler.

At zero replicas a Triton fleet emits no metrics, so the replica counts come from
the target's scale subresource (``apps/v1 deployments/{name}/scale``) and the
Deployment's ``status.readyReplicas``. The dashboard keeps its overrides in a
ConfigMap (see :mod:`scaler.kube_store`). Nothing else is read or written, and the
RBAC in ``manifests/base/rbac.yaml`` grants exactly these calls.

Every call carries a timeout (``_request_timeout``) and no hidden retries, so a
slow API server costs at most ``timeout_s`` per call. Failures raise
:class:`KubeError`, whose message names the call, the object and, for a 403, the
RBAC verb and resource that are missing. :meth:`KubeClient.read_replicas` turns
them into ``None`` so a decision that can do without the API never stops for it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import urllib3.exceptions
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scaler.observer import ReplicaCount

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
"""Seconds per API call. The API is read in the background refresh, not while KEDA
waits, so this need not fit KEDA's ~3 s deadline; it only keeps a hung API server
from stalling the refresh."""

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

TARGET_ACCESS: tuple[tuple[str, str, str], ...] = (
    ("apps", "deployments", "get"),
    ("apps", "deployments/scale", "get"),
)
"""(API group, resource, verb) this module needs in every target's namespace."""

CONFIGMAP_ACCESS: tuple[tuple[str, str, str], ...] = (
    ("", "configmaps", "get"),
    ("", "configmaps", "update"),
)
"""(API group, resource, verb) the overrides store needs on its ConfigMap (plus
``create`` only if the ConfigMap is not shipped with the manifests)."""


class KubeErrorKind(StrEnum):
    """Why a call failed, for callers that react differently (e.g. retry on CONFLICT)."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    BAD_RESPONSE = "bad_response"
    CONFIG = "config"


class KubeError(RuntimeError):
    """A Kubernetes API call failed; ``str()`` says which call, on what, and why."""

    def __init__(self, kind: KubeErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


@dataclass(frozen=True, slots=True)
class ApiCall:
    """What a request does, in RBAC terms, so errors can name the missing permission."""

    verb: str
    resource: str
    namespace: str
    name: str
    group: str = ""

    def describe(self) -> str:
        return f"{self.verb} {self.resource} {self.namespace}/{self.name}"

    def rbac_rule(self) -> str:
        return (
            f"apiGroups: [{self.group!r}], resources: [{self.resource!r}], "
            f"verbs: [{self.verb!r}] in namespace {self.namespace!r}"
        )


@dataclass(frozen=True, slots=True)
class ConfigMapData:
    """A ConfigMap's ``data`` and the ``resourceVersion`` it was read at."""

    data: dict[str, str]
    resource_version: str


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Meta(_Model):
    resource_version: str = Field(default="", alias="resourceVersion")


class _ScaleSpec(_Model):
    replicas: int = Field(default=0, ge=0)


class _ScaleStatus(_Model):
    replicas: int = Field(default=0, ge=0)


class _Scale(_Model):
    spec: _ScaleSpec = _ScaleSpec()
    status: _ScaleStatus = _ScaleStatus()


class _DeploymentStatus(_Model):
    ready_replicas: int = Field(default=0, ge=0, alias="readyReplicas")


class _Deployment(_Model):
    status: _DeploymentStatus = _DeploymentStatus()


class _ConfigMap(_Model):
    metadata: _Meta = _Meta()
    data: dict[str, str] | None = None


def _status_message(exc: Any) -> str:
    """The API server's own explanation from a Status body, else the HTTP reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            parsed = json.loads(body)
        except (TypeError, ValueError):
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
            return str(parsed["message"])
    return str(getattr(exc, "reason", "") or "no reason given")


def _api_error(call: ApiCall, exc: Any) -> KubeError:
    status = int(getattr(exc, "status", 0) or 0)
    detail = _status_message(exc)
    what = call.describe()
    if status == 401:
        return KubeError(
            KubeErrorKind.UNAUTHORIZED,
            f"{what}: 401 unauthorized (the service account token or kubeconfig "
            f"credentials were rejected): {detail}",
            status,
        )
    if status == 403:
        return KubeError(
            KubeErrorKind.FORBIDDEN,
            f"{what}: 403 forbidden: RBAC does not allow verb {call.verb!r} on resource "
            f"{call.resource!r}; grant the scaler's ServiceAccount a Role rule "
            f"{{{call.rbac_rule()}}} (see manifests/base/rbac.yaml): {detail}",
            status,
        )
    if status == 404:
        return KubeError(KubeErrorKind.NOT_FOUND, f"{what}: 404 not found: {detail}", status)
    if status == 409:
        return KubeError(
            KubeErrorKind.CONFLICT,
            f"{what}: 409 conflict (changed or created by someone else since it was read): "
            f"{detail}",
            status,
        )
    return KubeError(
        KubeErrorKind.BAD_RESPONSE, f"{what}: HTTP {status or '?'}: {detail}", status or None
    )


def _transport_error(call: ApiCall, exc: Exception, timeout_s: float) -> KubeError:
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return KubeError(
            KubeErrorKind.UNREACHABLE, f"{call.describe()}: API server unreachable: {exc}"
        )
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return KubeError(
            KubeErrorKind.TIMEOUT,
            f"{call.describe()}: no answer within {timeout_s:g} s (timeout)",
        )
    return KubeError(KubeErrorKind.UNREACHABLE, f"{call.describe()}: request failed: {exc}")


def _new_configuration() -> Any:
    cfg = k8s.Configuration()
    cfg.retries = False
    return cfg


class KubeClient:
    """The scaler's Kubernetes calls, each with ``timeout_s`` and typed errors.

    Build it with :meth:`from_environment` (in-cluster service account, else
    kubeconfig) or :meth:`for_url` (an explicit API server address and token).
    """

    def __init__(self, api_client: Any, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self._api_client = api_client
        self._apps = k8s.AppsV1Api(api_client)
        self._core = k8s.CoreV1Api(api_client)
        self.timeout_s = timeout_s

    @property
    def host(self) -> str:
        return str(self._api_client.configuration.host)

    @classmethod
    def for_url(
        cls,
        url: str,
        *,
        token: str | None = None,
        ca_file: Path | None = None,
        verify_tls: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> KubeClient:
        """A client for the API server at ``url`` with an optional bearer token."""
        cfg = _new_configuration()
        cfg.host = url.rstrip("/")
        cfg.verify_ssl = verify_tls
        if ca_file is not None:
            cfg.ssl_ca_cert = str(ca_file)
        if token:
            cfg.api_key["authorization"] = token
            cfg.api_key_prefix["authorization"] = "Bearer"
        return cls(k8s.ApiClient(cfg), timeout_s=timeout_s)

    @classmethod
    def from_environment(
        cls,
        *,
        kubeconfig: Path | None = None,
        context: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        environ: dict[str, str] | None = None,
        service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    ) -> KubeClient:
        """In a pod (``KUBERNETES_SERVICE_HOST`` set, no ``kubeconfig`` given) use the
        mounted service account token and CA; otherwise the kubeconfig file
        (``kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``)."""
        env = dict(os.environ) if environ is None else environ
        cfg = _new_configuration()
        try:
            if kubeconfig is None and env.get("KUBERNETES_SERVICE_HOST"):
                loader = k8s_config.incluster_config.InClusterConfigLoader(  # type: ignore[no-untyped-call]
                    token_filename=str(service_account_dir / "token"),
                    cert_filename=str(service_account_dir / "ca.crt"),
                    environ=env,
                )
                loader.load_and_set(cfg)  # type: ignore[no-untyped-call]
            else:
                path = kubeconfig or env.get("KUBECONFIG") or None
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=str(path) if path else None,
                    context=context,
                    client_configuration=cfg,
                    persist_config=False,
                )
        except (k8s_config.ConfigException, OSError) as exc:
            raise KubeError(
                KubeErrorKind.CONFIG,
                f"no usable Kubernetes credentials (in-cluster service account or "
                f"kubeconfig): {exc}",
            ) from None
        cfg.retries = False
        return cls(k8s.ApiClient(cfg), timeout_s=timeout_s)

    def close(self) -> None:
        self._api_client.close()

    def _call(self, call: ApiCall, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one API method and return its JSON body as a dict."""
        try:
            response = fn(*args, _request_timeout=self.timeout_s, _preload_content=False, **kwargs)
            raw = response.data
        except ApiException as exc:
            raise _api_error(call, exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _transport_error(call, exc, self.timeout_s) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise KubeError(
                KubeErrorKind.BAD_RESPONSE, f"{call.describe()}: response is not JSON"
            ) from None

    def _parse(self, call: ApiCall, model: type[_Model], body: Any) -> Any:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise KubeError(
                KubeErrorKind.BAD_RESPONSE,
                f"{call.describe()}: unexpected response at {where or '(body)'}: "
                f"{first.get('msg')}",
            ) from None

    def get_replicas(self, namespace: str, name: str) -> ReplicaCount:
        """Replica counts of Deployment ``namespace/name``; raises :class:`KubeError`.

        Needs ``get`` on ``deployments/scale`` and ``deployments`` (group ``apps``).
        """
        scale_call = ApiCall("get", "deployments/scale", namespace, name, "apps")
        scale: _Scale = self._parse(
            scale_call,
            _Scale,
            self._call(scale_call, self._apps.read_namespaced_deployment_scale, name, namespace),
        )
        dep_call = ApiCall("get", "deployments", namespace, name, "apps")
        deployment: _Deployment = self._parse(
            dep_call,
            _Deployment,
            self._call(dep_call, self._apps.read_namespaced_deployment, name, namespace),
        )
        return ReplicaCount(
            spec_replicas=scale.spec.replicas,
            current_replicas=scale.status.replicas,
            ready_replicas=deployment.status.ready_replicas,
        )

    def read_replicas(self, namespace: str, name: str) -> ReplicaCount | None:
        """Like :meth:`get_replicas`, but ``None`` (and one warning log line naming the
        cause) instead of an error, for callers that can decide without it."""
        try:
            return self.get_replicas(namespace, name)
        except KubeError as exc:
            log.warning("kubernetes: %s", exc)
            return None

    def get_config_map(self, namespace: str, name: str) -> ConfigMapData:
        """ConfigMap ``namespace/name``; raises :class:`KubeError` (``NOT_FOUND`` if absent)."""
        call = ApiCall("get", "configmaps", namespace, name)
        cm: _ConfigMap = self._parse(
            call,
            _ConfigMap,
            self._call(call, self._core.read_namespaced_config_map, name, namespace),
        )
        return ConfigMapData(dict(cm.data or {}), cm.metadata.resource_version)

    def replace_config_map(
        self, namespace: str, name: str, data: dict[str, str], resource_version: str
    ) -> ConfigMapData:
        """Replace the ConfigMap's data only if it is still at ``resource_version``:
        otherwise the API server answers 409 (:attr:`KubeErrorKind.CONFLICT`)."""
        call = ApiCall("update", "configmaps", namespace, name)
        body = _config_map_body(namespace, name, data, resource_version)
        cm: _ConfigMap = self._parse(
            call,
            _ConfigMap,
            self._call(call, self._core.replace_namespaced_config_map, name, namespace, body),
        )
        return ConfigMapData(dict(cm.data or {}), cm.metadata.resource_version)

    def create_config_map(self, namespace: str, name: str, data: dict[str, str]) -> ConfigMapData:
        """Create the ConfigMap; 409 (:attr:`KubeErrorKind.CONFLICT`) if it already exists."""
        call = ApiCall("create", "configmaps", namespace, name)
        body = _config_map_body(namespace, name, data, None)
        cm: _ConfigMap = self._parse(
            call,
            _ConfigMap,
            self._call(call, self._core.create_namespaced_config_map, namespace, body),
        )
        return ConfigMapData(dict(cm.data or {}), cm.metadata.resource_version)


def _config_map_body(
    namespace: str, name: str, data: dict[str, str], resource_version: str | None
) -> dict[str, Any]:
    metadata: dict[str, str] = {"name": name, "namespace": namespace}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(data)}
