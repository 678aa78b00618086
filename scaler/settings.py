"""Server settings: every ``scaler serve`` flag is also an environment variable
``SCALER_<NAME>`` (e.g. ``SCALER_PROMETHEUS_URL``), so the Deployment's ConfigMap
and Secret configure it without a command line."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseSettings):
    """Settings of the scaler service (units in the names)."""

    model_config = SettingsConfigDict(env_prefix="SCALER_", extra="ignore")

    grpc_listen: str = Field(
        default="0.0.0.0:9100", description="HOST:PORT of the KEDA external-scaler gRPC server."
    )
    metrics_listen: str = Field(
        default="0.0.0.0:9101",
        description="HOST:PORT of the HTTP server for the scaler's own /metrics (empty: off).",
    )
    prometheus_url: str = Field(
        default="http://prometheus-operated.monitoring.svc:9090",
        description="Base URL of the Prometheus holding the Triton metrics.",
    )
    prometheus_allowed_urls: str = Field(
        default="",
        description="Comma-separated Prometheus base URLs a trigger may name in "
        "`serverAddress`, besides SCALER_PROMETHEUS_URL (e.g. one per SuperSONIC release); "
        "the server's credentials are never sent to them.",
    )
    prometheus_bearer_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to Prometheus (from a Secret)."
    )
    prometheus_auth_header: SecretStr | None = Field(
        default=None,
        description="Full Authorization header value for Prometheus (e.g. 'Basic ...'); "
        "takes precedence over the bearer token.",
    )
    prometheus_verify_tls: bool = Field(
        default=True, description="Verify Prometheus's TLS certificate."
    )
    prometheus_ca_file: Path | None = Field(
        default=None, description="CA bundle used to verify Prometheus's certificate."
    )
    prometheus_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="Seconds before a Prometheus query gives up."
    )
    refresh_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Seconds between background refreshes of each ScaledObject's decision.",
    )
    forget_after_s: float = Field(
        default=900.0,
        gt=0,
        description="Seconds after KEDA last asked about a ScaledObject before it is dropped.",
    )
    max_objects: int = Field(
        default=5_000,
        ge=1,
        le=1_000_000,
        description="ScaledObjects tracked at once; at the limit a new one forgets the least "
        "recently asked if idle over 120 s, else is refused with RESOURCE_EXHAUSTED.",
    )
    max_streams: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="Open StreamIsActive/StreamMetricSpec streams held at once (they cost no "
        "thread); more are refused with RESOURCE_EXHAUSTED.",
    )
    unary_workers: int = Field(
        default=2,
        ge=1,
        le=1_024,
        description="Threads parsing metadata not seen before; answers from cached decisions "
        "never wait on them. Parsing is Python holding the interpreter lock, so more threads "
        "add no speed, only more contenders the event loop shares that lock with.",
    )
    max_prometheus_queries_per_s: float = Field(
        default=500.0,
        gt=0,
        description="Prometheus queries per second the refresh loop may send; when objects "
        "need more, every object's refresh slows alike (oldest first).",
    )
    max_logged_decisions: int = Field(
        default=200_000,
        ge=1,
        description="Decisions kept for the dashboard across all ScaledObjects (about 1 KB "
        "each): each object keeps up to 6 h, fewer when many share the total.",
    )
    prometheus_reader_process: bool = Field(
        default=True,
        description="Read Prometheus in a child process, so parsing its answers never takes "
        "CPU or the interpreter lock from the gRPC server answering KEDA.",
    )
    prometheus_reader_nice: int = Field(
        default=5,
        ge=0,
        le=19,
        description="How much lower the CPU priority (nice) of that child is; above 0 it also "
        "runs under Linux's SCHED_IDLE, so a thread answering an RPC takes the CPU from it at "
        "once: when CPU is short, refreshes slow down (every object alike) before RPC answers do.",
    )
    prometheus_reader_stall_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds the Prometheus reader process may leave a ping (sent every 5 s) "
        "unanswered before the scaler logs it as stalled, sets "
        "sonic_scaler_prometheus_reader_stalled and fails its health check until it answers.",
    )
    max_metadata_bytes: int = Field(
        default=65_536,
        ge=1_024,
        le=1_048_576,
        description="Bytes of one request's trigger metadata (keys plus values); more is "
        "refused with INVALID_ARGUMENT before anything is stored.",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="Server certificate (PEM) for gRPC TLS."
    )
    tls_key_file: Path | None = Field(default=None, description="Server private key (PEM).")
    tls_client_ca_file: Path | None = Field(
        default=None, description="CA (PEM) that client certificates must chain to: mTLS."
    )
    grace_period_s: float = Field(
        default=10.0, ge=0, description="Seconds to finish in-flight RPCs on SIGTERM."
    )
    dashboard_listen: str = Field(
        default="",
        description="HOST:PORT of the tuning dashboard and its JSON API (empty: off).",
    )
    dashboard_token: SecretStr | None = Field(
        default=None,
        description="Bearer token required to change anything from the dashboard "
        "(unset: the dashboard is read-only).",
    )
    dashboard_allowed_hosts: str = Field(
        default="",
        description="Comma-separated extra Host names the dashboard answers to (e.g. its "
        "Service's DNS name); loopback and a specific listen address always are. Other "
        "Hosts get 421 (DNS rebinding).",
    )
    dashboard_max_upload_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1_024,
        le=1 << 30,
        description="Largest trace file the dashboard accepts (bytes; a day of 1 s rate rows "
        "is about 2 MB); a larger upload gets 413 before it is read.",
    )
    dashboard_max_inflated_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1_024,
        le=1 << 30,
        description="Largest size a gzip upload may inflate to (bytes; a 99 KB gzip can hold "
        "100 MB); checked while inflating, beyond it 422.",
    )
    dashboard_max_trace_span_s: int = Field(
        default=8 * 86_400,
        ge=60,
        le=40_000_000,
        description="Longest time span of an uploaded trace (seconds; simulated in 1 s "
        "steps, so memory grows with it); a longer span is refused with 422 at the row that "
        "makes it so, before anything of that length is allocated.",
    )
    dashboard_max_jobs: int = Field(
        default=4,
        ge=1,
        le=100,
        description="What-if and tune jobs queued or running at once (they run one at a "
        "time); more get 429 until one finishes.",
    )
    overrides_file: Path | None = Field(
        default=None,
        description="File holding parameter overrides applied from the dashboard "
        "(JSON; default store when not using a ConfigMap).",
    )
    overrides_configmap: str | None = Field(
        default=None,
        description="NAMESPACE/NAME of a ConfigMap holding the overrides instead of a file.",
    )
    kubernetes_api: bool = Field(
        default=True,
        description="Read replica counts from the Kubernetes API (in-cluster or kubeconfig) "
        "when Prometheus sees none and the trigger names `targetDeployment`.",
    )
    log_level: str = Field(default="INFO", description="Python logging level.")


def settings_error(exc: ValidationError) -> str:
    """A settings error naming each bad value by its environment variable
    (``SCALER_<NAME>``) and its name (``<name>``, the flag ``--<name>`` where there is
    one); the value is cut to 80 characters and never shown for a secret."""
    lines = []
    for err in exc.errors():
        field = "_".join(str(part) for part in err["loc"])
        secret = "token" in field or "auth" in field
        got = "" if secret else f" (got {str(err.get('input'))[:80]!r})"
        lines.append(f"SCALER_{field.upper()} ({field}): {err['msg']}{got}")
    return "; ".join(lines)
