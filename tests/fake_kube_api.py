"""A tiny stand-in for the Kubernetes API server (there is none on this machine).

It answers exactly the endpoints :mod:`scaler.kube` uses, from in-memory
Deployments and ConfigMaps with real ``resourceVersion`` semantics (a write at a
stale version is a 409), and can be told to refuse (403), stall past the client's
timeout, or let another writer slip in between a read and a write.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCALE = re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)/scale$")
DEPLOYMENT = re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)$")
CONFIGMAP = re.compile(r"^/api/v1/namespaces/([^/]+)/configmaps/([^/]+)$")
CONFIGMAPS = re.compile(r"^/api/v1/namespaces/([^/]+)/configmaps$")


@dataclass
class Deployment:
    spec_replicas: int
    status_replicas: int
    ready_replicas: int | None


@dataclass
class StoredConfigMap:
    data: dict[str, str]
    version: int


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    """State and misbehaviour switches of the fake API server."""

    deployments: dict[tuple[str, str], Deployment] = field(default_factory=dict)
    configmaps: dict[tuple[str, str], StoredConfigMap] = field(default_factory=dict)
    forbidden: set[tuple[str, str]] = field(default_factory=set)
    """(HTTP method, path regex name: 'scale' | 'deployment' | 'configmap' | 'configmaps')."""
    stall_s: float = 0.0
    """Seconds every request waits before answering (past the client's timeout)."""
    raw_body: bytes | None = None
    """If set, every 200 answer has this body instead (for malformed-response tests)."""
    after_read: Callable[[FakeApi], None] | None = None
    """Runs after each ConfigMap GET is computed, before it is sent: another writer's
    change landing between the client's read and its write."""
    requests: list[Request] = field(default_factory=list)
    next_version: int = 100
    release: threading.Event = field(default_factory=threading.Event)

    def bump(self) -> int:
        self.next_version += 1
        return self.next_version

    def concurrent_write(self, namespace: str, name: str, key: str, value: str) -> None:
        cm = self.configmaps[(namespace, name)]
        cm.data = {**cm.data, key: value}
        cm.version = self.bump()


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _configmap_body(ns: str, name: str, cm: StoredConfigMap) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": str(cm.version)},
        "data": dict(cm.data),
    }


def _answer(api: FakeApi, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    routes = (("scale", SCALE), ("deployment", DEPLOYMENT), ("configmap", CONFIGMAP))
    routes += (("configmaps", CONFIGMAPS),)
    for route, pattern in routes:
        match = pattern.match(path)
        if match is None:
            continue
        if (method, route) in api.forbidden:
            return _status(
                403,
                "Forbidden",
                f'{route} is forbidden: User "system:serviceaccount:sonic-scaler:sonic-scaler"'
                f" cannot {method.lower()} this resource",
            )
        return _route(api, route, method, match.groups(), body)
    return _status(404, "NotFound", f"no route for {method} {path}")


def _route(
    api: FakeApi, route: str, method: str, key: tuple[str, ...], body: Any
) -> tuple[int, dict[str, Any]]:
    if route in ("scale", "deployment"):
        ns, name = key
        dep = api.deployments.get((ns, name))
        if dep is None:
            return _status(404, "NotFound", f'deployments.apps "{name}" not found')
        if route == "scale":
            return 200, {
                "kind": "Scale",
                "apiVersion": "autoscaling/v1",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"replicas": dep.spec_replicas},
                "status": {"replicas": dep.status_replicas, "selector": "app=triton"},
            }
        status: dict[str, Any] = {"replicas": dep.status_replicas}
        if dep.ready_replicas is not None:
            status["readyReplicas"] = dep.ready_replicas
        return 200, {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": dep.spec_replicas},
            "status": status,
        }
    if route == "configmaps" and method == "POST":
        (ns,) = key
        name = body["metadata"]["name"]
        if (ns, name) in api.configmaps:
            return _status(409, "AlreadyExists", f'configmaps "{name}" already exists')
        cm = StoredConfigMap(dict(body.get("data") or {}), api.bump())
        api.configmaps[(ns, name)] = cm
        return 201, _configmap_body(ns, name, cm)
    ns, name = key
    stored = api.configmaps.get((ns, name))
    if stored is None:
        return _status(404, "NotFound", f'configmaps "{name}" not found')
    if method == "GET":
        return 200, _configmap_body(ns, name, stored)
    if method == "PUT":
        sent = body["metadata"].get("resourceVersion")
        if sent != str(stored.version):
            return _status(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on configmaps "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
        stored.data = dict(body.get("data") or {})
        stored.version = api.bump()
        return 200, _configmap_body(ns, name, stored)
    return _status(405, "MethodNotAllowed", method)


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = self.path.split("?", 1)[0]
            api.requests.append(Request(self.command, path, dict(self.headers), body))
            if api.stall_s and api.release.wait(api.stall_s):
                return
            code, answer = _answer(api, self.command, path, body)
            payload = json.dumps(answer).encode()
            if api.raw_body is not None and code < 300:
                payload = api.raw_body
            if self.command == "GET" and CONFIGMAP.match(path) and api.after_read:
                api.after_read(api)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = _serve

    return Handler


@contextmanager
def serve(api: FakeApi, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Run the fake on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        api.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
