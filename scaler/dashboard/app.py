"""The tuning dashboard as a FastAPI app, in the scaler's process or standalone."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from scaler.dashboard import api, pages
from scaler.dashboard.context import Dashboard, Limits
from scaler.dashboard.jobs import JobRunner
from scaler.dashboard.security import GuardMiddleware, TokenAuth, allowed_hosts
from scaler.overrides.store import OverrideStore
from scaler.settings import ServerSettings
from scaler.traces.bundled import bundled_traces_dir
from scaler.tracker import ObjectTracker

DEFAULT_TRACES_DIR = bundled_traces_dir()
FAVICON = pages.HERE / "static" / "favicon.svg"


def create_app(
    tracker: ObjectTracker,
    settings: ServerSettings,
    store: OverrideStore,
    *,
    clock: Callable[[], float] = time.time,
    traces_dir: Path | None = DEFAULT_TRACES_DIR,
    hosts: frozenset[str] | None = None,
) -> FastAPI:
    """The dashboard over ``tracker``'s objects. ``store`` must be the one whose
    ``overrides_for`` the tracker reads, so an applied override reaches the scaler's
    next decision; ``clock`` (epoch seconds) is injectable for tests. ``hosts``: the
    Host names answered (default: loopback, ``settings.dashboard_listen``'s host and
    ``settings.dashboard_allowed_hosts``). The bounds on uploads and jobs are the
    ``settings.dashboard_max_*`` settings."""
    limits = Limits.from_settings(settings)
    # Swagger UI at /docs from assets inside the installed fastapi-offline package, so it
    # works without internet access (FastAPI's default loads it from a CDN).
    app = FastAPIOffline(
        redoc_url=None,
        static_url="/static-docs",
        favicon_url="/static/favicon.svg",
        title="sonic-scaler dashboard",
        description="Watch every decision, replay traffic through a candidate policy, "
        "apply it safely. Changes need `Authorization: Bearer <token>`.",
        version="1",
    )
    jobs = JobRunner(clock=clock, max_queued=limits.max_jobs)
    app.state.dashboard = Dashboard(
        tracker=tracker,
        settings=settings,
        store=store,
        auth=TokenAuth(settings.dashboard_token),
        jobs=jobs,
        clock=clock,
        traces_dir=traces_dir,
        limits=limits,
    )
    app.include_router(api.router)
    app.add_api_route(
        "/favicon.ico",
        lambda: FileResponse(FAVICON, media_type="image/svg+xml"),
        include_in_schema=False,
    )
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(pages.HERE / "static")), name="static")
    if hosts is None:
        hosts = allowed_hosts(settings.dashboard_listen, settings.dashboard_allowed_hosts)
    app.add_middleware(
        GuardMiddleware, max_body_bytes=limits.max_upload_bytes + 64 * 1024, hosts=hosts
    )
    app.router.on_shutdown.append(jobs.shutdown)
    return app
