"""The HTML pages: thin shells whose script reads the JSON API. Every asset is
served from here (plotly's bundled JS from the installed ``plotly`` package):
no CDN, so the dashboard works in an air-gapped cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from scaler.dashboard.api import Ctx
from scaler.sim.plots import plotly_js_path

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


plotly_js = plotly_js_path
"""plotly.min.js inside the installed plotly package, if there is one (shared with the
simulator's HTML reports, which inline it)."""


def _page(request: Request, ctx: Any, template: str, **extra: Any) -> HTMLResponse:
    context = {
        "page": template.removesuffix(".html"),
        "read_only": ctx.auth.read_only,
        "refresh": ctx.tracker.refresh_interval_s,
        "store": ctx.store.description,
        "namespace": None,
        "name": None,
        **extra,
    }
    return templates.TemplateResponse(request, template, context)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ctx: Ctx) -> HTMLResponse:
    return _page(request, ctx, "overview.html")


@router.get("/objects/{namespace}/{name}", response_class=HTMLResponse)
def object_page(namespace: str, name: str, request: Request, ctx: Ctx) -> HTMLResponse:
    ctx.obj(namespace, name)
    return _page(request, ctx, "object.html", namespace=namespace, name=name)


@router.get("/objects/{namespace}/{name}/tune", response_class=HTMLResponse)
def tune_page(namespace: str, name: str, request: Request, ctx: Ctx) -> HTMLResponse:
    ctx.obj(namespace, name)
    return _page(request, ctx, "tune.html", namespace=namespace, name=name)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, ctx: Ctx) -> HTMLResponse:
    return _page(request, ctx, "audit.html")


@router.get("/static/plotly.min.js")
def plotly() -> Response:
    path = plotly_js()
    if path is None:
        return Response(
            "window.Plotly = undefined; // the plotly package is not installed",
            media_type="text/javascript",
        )
    return FileResponse(
        path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
    )
