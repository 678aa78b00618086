"""``scaler dashboard``: the tuning dashboard on its own (the server and its dashboard
are assembled in :mod:`scaler.assembly`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from scaler.logs import configure_logging
from scaler.metadata import MetadataError
from scaler.settings import ServerSettings, settings_error

log = logging.getLogger(__name__)

RETRACK_S = 60.0
"""Standalone: how often the listed ScaledObjects are re-registered with the
tracker (it forgets objects nobody asks about, and re-parsing picks up overrides)."""


def scaled_objects(path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(namespace, name, trigger metadata) of every ScaledObject in a YAML file whose
    trigger points at an external scaler (``type: external`` or ``external-push``)."""
    for doc in yaml.safe_load_all(path.read_text()):
        if not isinstance(doc, dict) or doc.get("kind") != "ScaledObject":
            continue
        meta = doc.get("metadata") or {}
        for trig in (doc.get("spec") or {}).get("triggers") or []:
            if trig.get("type") in ("external", "external-push"):
                values = {str(k): str(v) for k, v in (trig.get("metadata") or {}).items()}
                yield str(meta.get("namespace", "default")), str(meta["name"]), values
                break


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
        # Imported here: they pull in the Kubernetes client and the web stack, which
        # every other command (simulate in `make run`) would otherwise load for nothing.
        from scaler.assembly import start_dashboard
        from scaler.overrides.store import build_store
        from scaler.own_metrics import build_metrics
        from scaler.prometheus_pool import PrometheusPool
        from scaler.tracker import ObjectTracker

        store = build_store(settings.overrides_file, settings.overrides_configmap)
        metrics = build_metrics()
        pool = PrometheusPool(settings, metrics)
        tracker = ObjectTracker(
            pool,
            metrics,
            refresh_interval_s=settings.refresh_interval_s,
            forget_after_s=max(settings.forget_after_s, 4 * RETRACK_S),
            overrides=store.overrides_for,
            validate=pool.check,
        )
        listed = list(scaled_objects(objects)) if objects is not None else []
        stop = threading.Event()

        def retrack() -> None:
            while True:
                for namespace, name, meta in listed:
                    try:
                        tracker.track(tracker.config_for(name, namespace, meta))
                    except MetadataError as exc:
                        log.warning("%s/%s: %s", namespace, name, exc)
                if stop.wait(RETRACK_S):
                    return

        threading.Thread(target=retrack, name="retrack", daemon=True).start()
        tracker.start()
        try:
            handle = start_dashboard(tracker, settings, store, traces_dir=traces_dir)
        except (OSError, ValueError) as exc:
            log.error("%s", exc)
            tracker.stop()
            raise typer.Exit(2) from None
        log.info("dashboard on %s (%d ScaledObjects)", handle.url, len(listed))
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            handle.stop()
            tracker.stop()
