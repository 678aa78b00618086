#!/usr/bin/env python3
"""Exit 0 if the local scaler's gRPC health service answers SERVING, else 1.

The image's HEALTHCHECK runs it, and so do the Kubernetes probes of the mTLS overlay
(the kubelet's native ``grpc:`` probe cannot speak TLS). It reads the server's own
settings: the port of ``SCALER_GRPC_LISTEN``; with ``SCALER_TLS_CERT_FILE`` set it
connects over TLS, verifies the server against ``SCALER_TLS_CLIENT_CA_FILE`` (else
the certificate itself) under the name ``HEALTHCHECK_SERVER_NAME``, and presents the
server's certificate as its client certificate (so that certificate needs the
clientAuth usage when mTLS is on).

Usage: ``sonic-scaler-healthcheck [SERVICE]``; SERVICE defaults to "" (the whole
server); ``externalscaler.ExternalScaler`` is the KEDA service.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT_S = 3.0


def _channel(env: dict[str, str]) -> grpc.Channel:
    port = env.get("SCALER_GRPC_LISTEN", "0.0.0.0:9100").rpartition(":")[2]
    target = f"127.0.0.1:{port}"
    cert_file = env.get("SCALER_TLS_CERT_FILE")
    if not cert_file:
        return grpc.insecure_channel(target)
    cert = Path(cert_file).read_bytes()
    key = Path(env["SCALER_TLS_KEY_FILE"]).read_bytes()
    ca_file = env.get("SCALER_TLS_CLIENT_CA_FILE")
    ca = Path(ca_file).read_bytes() if ca_file else cert
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )
    name = env.get("HEALTHCHECK_SERVER_NAME", "sonic-scaler.sonic-scaler.svc")
    return grpc.secure_channel(target, creds, options=[("grpc.ssl_target_name_override", name)])


def check(service: str, env: dict[str, str]) -> bool:
    """True if ``service`` reports SERVING within :data:`TIMEOUT_S` seconds."""
    with _channel(env) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_S)
        except grpc.RpcError as exc:
            print(f"unhealthy: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return False
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    if not serving:
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        print(f"unhealthy: {service or '(server)'} is {status}", file=sys.stderr)
    return serving


def main(argv: list[str]) -> int:
    service = argv[1] if len(argv) > 1 else ""
    try:
        return 0 if check(service, dict(os.environ)) else 1
    except (OSError, KeyError) as exc:
        print(f"unhealthy: cannot set up TLS: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
