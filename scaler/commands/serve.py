"""``scaler serve``: run the KEDA external scaler (gRPC) and its /metrics."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from scaler.logs import configure_logging
from scaler.settings import ServerSettings, settings_error


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
            raise typer.BadParameter(settings_error(exc)) from None
        configure_logging(settings.log_level)
        from scaler.assembly import AssemblyError, assemble
        from scaler.server import run_until_signal

        try:
            scaler = assemble(settings)
        except AssemblyError as exc:
            if exc.settings_problem:
                typer.echo(f"error: {exc}", err=True)
            else:
                logging.getLogger(__name__).error("%s", exc)
            raise typer.Exit(2) from None
        try:
            run_until_signal(scaler.running)
        finally:
            scaler.stop_dashboard()
