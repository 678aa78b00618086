"""``scaler serve``: run the KEDA external scaler (gRPC) and its /metrics."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from scaler.logs import configure_logging
from scaler.settings import ServerSettings
from scaler.tracker import ReplicaReader


def _with_default(help_: str) -> str:
    """``help_`` plus ``[default: ...]`` for an option whose help names its ``SCALER_*``
    variable: the ServerSettings default (the options themselves default to None so that
    unset ones fall through to the environment)."""
    match = re.search(r"env (SCALER_\w+)", help_)
    field = ServerSettings.model_fields.get(match.group(1)[7:].lower()) if match else None
    if field is None or field.default is None:
        return help_
    value = field.default
    shown = ("true" if value else "false") if isinstance(value, bool) else str(value) or "''"
    return f"{help_}  [default: {shown}]"


def _opt(help_: str, *decls: str) -> Any:
    return typer.Option(*decls, help=_with_default(help_), show_default=False)


def _replica_reader(enabled: bool) -> ReplicaReader | None:
    """The Kubernetes API's replica counts, if a cluster (or kubeconfig) is reachable;
    without one the scaler still decides, from Prometheus alone."""
    if not enabled:
        return None
    from scaler.kube import KubeClient, KubeError

    try:
        return KubeClient.from_environment().read_replicas
    except KubeError as exc:
        logging.getLogger(__name__).warning(
            "no Kubernetes API (%s): replica counts come from Prometheus only", exc
        )
        return None


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        grpc_listen: Annotated[
            str | None, _opt("HOST:PORT for KEDA's gRPC calls (env SCALER_GRPC_LISTEN)")
        ] = None,
        prometheus_url: Annotated[
            str | None, _opt("Prometheus base URL (env SCALER_PROMETHEUS_URL)")
        ] = None,
        metrics_listen: Annotated[
            str | None, _opt("HOST:PORT for /metrics, '' for none (env SCALER_METRICS_LISTEN)")
        ] = None,
        refresh_interval_s: Annotated[
            float | None, _opt("Seconds between decisions (env SCALER_REFRESH_INTERVAL_S)")
        ] = None,
        prometheus_allowed_urls: Annotated[
            str | None,
            _opt(
                "Comma-separated Prometheus URLs a trigger's serverAddress may name "
                "(env SCALER_PROMETHEUS_ALLOWED_URLS)"
            ),
        ] = None,
        prometheus_timeout_s: Annotated[
            float | None, _opt("Seconds per Prometheus query (env SCALER_PROMETHEUS_TIMEOUT_S)")
        ] = None,
        prometheus_verify_tls: Annotated[
            bool | None,
            _opt(
                "Verify Prometheus's certificate (env SCALER_PROMETHEUS_VERIFY_TLS)",
                "--prometheus-verify-tls/--no-prometheus-verify-tls",
            ),
        ] = None,
        tls_cert_file: Annotated[
            Path | None, _opt("gRPC server certificate, PEM (env SCALER_TLS_CERT_FILE)")
        ] = None,
        tls_key_file: Annotated[
            Path | None, _opt("gRPC server key, PEM (env SCALER_TLS_KEY_FILE)")
        ] = None,
        tls_client_ca_file: Annotated[
            Path | None, _opt("Client CA for mTLS, PEM (env SCALER_TLS_CLIENT_CA_FILE)")
        ] = None,
        prometheus_ca_file: Annotated[
            Path | None, _opt("CA bundle for Prometheus's TLS (env SCALER_PROMETHEUS_CA_FILE)")
        ] = None,
        forget_after_s: Annotated[
            float | None,
            _opt("Seconds unasked before an object is dropped (env SCALER_FORGET_AFTER_S)"),
        ] = None,
        grace_period_s: Annotated[
            float | None, _opt("Seconds to finish RPCs on SIGTERM (env SCALER_GRACE_PERIOD_S)")
        ] = None,
        dashboard_listen: Annotated[
            str | None,
            _opt("HOST:PORT of the dashboard, '' for none (env SCALER_DASHBOARD_LISTEN)"),
        ] = None,
        overrides_file: Annotated[
            Path | None, _opt("Dashboard overrides file (env SCALER_OVERRIDES_FILE)")
        ] = None,
        overrides_configmap: Annotated[
            str | None,
            _opt("Overrides ConfigMap NAMESPACE/NAME (env SCALER_OVERRIDES_CONFIGMAP)"),
        ] = None,
        kubernetes_api: Annotated[
            bool | None,
            _opt(
                "Read replica counts from the Kubernetes API (env SCALER_KUBERNETES_API)",
                "--kubernetes-api/--no-kubernetes-api",
            ),
        ] = None,
        log_level: Annotated[str | None, _opt("Logging level (env SCALER_LOG_LEVEL)")] = None,
    ) -> None:
        """Run the KEDA external scaler: point a ScaledObject's `external` trigger at it.

        Every option is also read from the environment (SCALER_*); options win.
        Prometheus credentials come only from the environment
        (SCALER_PROMETHEUS_BEARER_TOKEN or SCALER_PROMETHEUS_AUTH_HEADER).
        """
        given = {k: v for k, v in locals().items() if v is not None}
        try:
            settings = ServerSettings(**given)
        except ValidationError as exc:
            raise typer.BadParameter(str(exc)) from None
        configure_logging(settings.log_level)
        from scaler.commands.dashboard import start_dashboard
        from scaler.dashboard.store import build_store
        from scaler.own_metrics import build_metrics
        from scaler.prometheus_pool import PrometheusPool
        from scaler.server import run_until_signal, start_server
        from scaler.tracker import ObjectTracker, no_overrides

        metrics = build_metrics()
        try:
            observer = PrometheusPool(settings, metrics)
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        with_dashboard = bool(settings.dashboard_listen)
        store = None
        if with_dashboard or settings.overrides_file or settings.overrides_configmap:
            store = build_store(settings.overrides_file, settings.overrides_configmap)
        tracker = ObjectTracker(
            observer,
            metrics,
            refresh_interval_s=settings.refresh_interval_s,
            forget_after_s=settings.forget_after_s,
            overrides=store.overrides_for if store is not None else no_overrides,
            replica_reader=_replica_reader(settings.kubernetes_api),
            max_metadata_bytes=settings.max_metadata_bytes,
            validate=observer.check,
            max_objects=settings.max_objects,
        )
        try:
            running = start_server(settings, observer, metrics=metrics, tracker=tracker)
        except (OSError, ValueError) as exc:
            logging.getLogger(__name__).error("%s", exc)
            raise typer.Exit(2) from None
        try:
            dashboard = (
                start_dashboard(tracker, settings, store)
                if with_dashboard and store is not None
                else None
            )
        except (OSError, ValueError) as exc:
            logging.getLogger(__name__).error("%s", exc)
            running.stop(0)
            raise typer.Exit(2) from None
        try:
            run_until_signal(running)
        finally:
            if dashboard is not None:
                dashboard.stop()
