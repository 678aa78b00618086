"""``scaler dashboard``: the tuning dashboard on its own (assembled, like the server,
in :mod:`scaler.assembly`: :func:`scaler.assembly.assemble_dashboard`)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from scaler.logs import configure_logging
from scaler.settings import ServerSettings, settings_error

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    @app.command()
    def dashboard(
        listen: Annotated[
            str, typer.Option(help="HOST:PORT of the dashboard [env SCALER_DASHBOARD_LISTEN]")
        ] = "127.0.0.1:8080",
        objects: Annotated[
            Path | None,
            typer.Option(help="YAML file of ScaledObject manifests to show and tune"),
        ] = None,
        prometheus_url: Annotated[
            str | None,
            typer.Option(
                help="Prometheus base URL [env SCALER_PROMETHEUS_URL]", show_default=False
            ),
        ] = None,
        token_env: Annotated[
            str,
            typer.Option(help="Environment variable holding the bearer token for changes"),
        ] = "SCALER_DASHBOARD_TOKEN",
        overrides_file: Annotated[
            Path | None,
            typer.Option(
                help="Overrides JSON file [env SCALER_OVERRIDES_FILE]", show_default=False
            ),
        ] = None,
        traces_dir: Annotated[
            Path | None,
            typer.Option(help="Directory of traces to offer [default: the bundled traces]"),
        ] = None,
    ) -> None:
        """Run the tuning dashboard alone, deciding for the listed ScaledObjects from
        Prometheus exactly as `scaler serve` would (without answering KEDA)."""
        import os

        given: dict[str, Any] = {"dashboard_listen": listen}
        if prometheus_url is not None:
            given["prometheus_url"] = prometheus_url
        if overrides_file is not None:
            given["overrides_file"] = overrides_file
        token = os.environ.get(token_env)
        if token:
            given["dashboard_token"] = token
        try:
            settings = ServerSettings(**given)
        except ValidationError as exc:
            raise typer.BadParameter(settings_error(exc)) from None
        configure_logging(settings.log_level)
        # Imported here: it pulls in the Kubernetes client and the web stack, which
        # every other command (simulate in `make run`) would otherwise load for nothing.
        from scaler.assembly import AssemblyError, assemble_dashboard

        try:
            running = assemble_dashboard(settings, objects, traces_dir=traces_dir)
        except AssemblyError as exc:
            log.error("%s", exc)
            raise typer.Exit(2) from None
        log.info("dashboard on %s (%d ScaledObjects)", running.dashboard.url, running.listed)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()
