"""The JSON API behind every page (OpenAPI at ``/docs``): everything the UI does
is scriptable with ``curl``. Reads are open; apply and revert need the bearer
token. Bad input is always a 4xx naming what is wrong, never a 500."""

from __future__ import annotations

import dataclasses
import re
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from policies import Guardrails
from scaler.dashboard import views
from scaler.dashboard.context import PARSING_UPLOADS, TRACE_SUFFIXES, Dashboard
from scaler.dashboard.history import HistoryError, prometheus_trace
from scaler.dashboard.jobs import Job, JobContext, NotOwnerError, QueueFullError
from scaler.dashboard.whatif import (
    WhatIfOptions,
    build_scenario,
    run_tune,
    run_whatif,
    trace_summary,
)
from scaler.limits import clean_message, redact, strip_url_credentials
from scaler.metadata import (
    COMMON_KEYS,
    DEFAULT_POLICY,
    GUARDRAIL_KEYS,
    KEDA_KEYS,
    POLICY_KEY,
    MetadataError,
    config_metadata,
    policy_keys,
)
from scaler.overrides.errors import StoreError
from scaler.overrides.store import UnknownEntryError
from scaler.registry import available_policies
from scaler.sim.scenario import ScenarioError
from scaler.traces.loader import TraceSpanError, load_trace
from scaler.traces.model import Trace
from scaler.traces.sources import TraceError

router = APIRouter(prefix="/api")


def dash(request: Request) -> Dashboard:
    d: Dashboard = request.app.state.dashboard
    return d


Ctx = Annotated[Dashboard, Depends(dash)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Override = Annotated[
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=256)]],
    Field(max_length=64, description="Metadata keys (camelCase) and string values."),
]


class OverrideBody(_Body):
    override: Override = Field(description="Keys that replace the ScaledObject's own.")


class ApplyBody(OverrideBody):
    job_id: str | None = Field(
        default=None, max_length=32, description="The what-if or tune job that justified it."
    )
    note: str = Field(default="", max_length=500)


class BundledTrace(_Body):
    kind: Literal["bundled"]
    name: str = Field(max_length=200, description="File name under simulations/traces.")


class UploadedTrace(_Body):
    kind: Literal["upload"]
    id: str = Field(max_length=32, description="Id returned by POST /api/traces.")


class PrometheusTrace(_Body):
    kind: Literal["prometheus"]
    hours: float = Field(gt=0, le=168, description="Hours of this object's traffic to replay.")


TraceRef = Annotated[BundledTrace | UploadedTrace | PrometheusTrace, Field(discriminator="kind")]


class WhatIfBody(OverrideBody):
    trace: TraceRef
    slo_ms: float | None = Field(default=None, gt=0, le=600_000, description="Latency SLO, ms.")
    startup_s: float | None = Field(
        default=None, ge=0, le=3600, description="Pod start-up delay, seconds."
    )


class TuneBody(WhatIfBody):
    budget: int = Field(default=12, ge=2, le=40, description="Simulator runs at most.")
    slo_target: float = Field(
        default=0.99, gt=0, le=1, description="SLO attainment (fraction) to reach."
    )


class ObjectSummary(BaseModel):
    key: str
    namespace: str
    name: str
    policy: str
    ready_replicas: int | None
    desired_replicas: int | None
    value: float | None
    signal_name: str | None
    signal: float | None
    target: float | None
    request_rate_rps: float | None
    queue_time_per_request_ms: float | None
    gpu_utilization: float | None
    status: str | None
    health: str
    reason: str
    decided_at_s: float | None
    age_s: float | None
    error: str | None
    overridden: bool
    indicators: str | None = None
    """Leading indicators' values and the replicas they added (None: none configured)."""
    indicator_replicas: float | None = None


class JobOut(BaseModel):
    id: str
    kind: str
    object: str
    status: str
    progress: float
    message: str
    error: str | None
    created_s: float
    finished_s: float | None
    result: dict[str, Any] | None


class AuditOut(BaseModel):
    id: str
    time: str
    who: str
    object: str
    action: str
    old: dict[str, str]
    new: dict[str, str]
    simulation: dict[str, Any] | None
    reverts: str | None
    note: str


def _summary(ctx: Dashboard, namespace: str, name: str) -> dict[str, Any]:
    obj = ctx.obj(namespace, name)
    return views.summary(
        obj, ctx.clock(), ctx.tracker.refresh_interval_s, ctx.override(namespace, name)
    )


@router.get("/info", summary="What this dashboard serves, whether it is read-only, and its bounds")
def info(ctx: Ctx) -> dict[str, Any]:
    return {
        "read_only": ctx.auth.read_only,
        "store": ctx.store.description,
        "store_error": ctx.store.last_error,
        "refresh_interval_s": ctx.tracker.refresh_interval_s,
        "max_upload_bytes": ctx.limits.max_upload_bytes,
        "limits": dataclasses.asdict(ctx.limits),
        "objects": len(ctx.tracker.objects()),
    }


@router.get("/objects", summary="Every ScaledObject with its latest decision and health")
def list_objects(ctx: Ctx) -> list[ObjectSummary]:
    now = ctx.clock()
    out = []
    for obj in sorted(ctx.tracker.objects(), key=lambda o: o.config.key):
        cfg = obj.config
        s = views.summary(
            obj, now, ctx.tracker.refresh_interval_s, ctx.override(cfg.namespace, cfg.name)
        )
        out.append(ObjectSummary(**s))
    return out


@router.get("/objects/{namespace}/{name}", summary="One object: summary, metadata, override")
def get_object(namespace: str, name: str, ctx: Ctx) -> dict[str, Any]:
    obj = ctx.obj(namespace, name)
    override = ctx.override(namespace, name)
    return {
        "summary": _summary(ctx, namespace, name),
        "metadata": config_metadata(obj.config),
        "base_metadata": redact(views.base_metadata(obj)),
        "override": redact(override),
        "policy": obj.config.policy.name,
        "params": obj.config.params.model_dump(by_alias=True, mode="json"),
    }


@router.get("/objects/{namespace}/{name}/decisions", summary="The decision log, newest first")
def decisions(
    namespace: str,
    name: str,
    ctx: Ctx,
    q: Annotated[str, Query(max_length=200, description="Words every record must contain")] = "",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[dict[str, Any]]:
    obj = ctx.obj(namespace, name)
    return views.search(list(obj.log), q, limit)


@router.get(
    "/objects/{namespace}/{name}/decisions.csv",
    summary="The decision log as CSV (every input and output)",
    response_class=PlainTextResponse,
)
def decisions_csv(
    namespace: str,
    name: str,
    ctx: Ctx,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
) -> Response:
    obj = ctx.obj(namespace, name)
    body = views.to_csv(views.search(list(obj.log), q, limit))
    return Response(
        body,
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{_safe_filename(namespace, name)}"'
        },
    )


def _safe_filename(namespace: str, name: str) -> str:
    """A download name that cannot break the header (CR/LF, quotes) or a path."""
    raw = f"{namespace}-{name}-decisions.csv"
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw)[:200]


@router.get("/objects/{namespace}/{name}/series", summary="Plot columns from the decision log")
def series(
    namespace: str, name: str, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=10_000)] = 2000
) -> dict[str, list[Any]]:
    return views.series(ctx.obj(namespace, name), limit)


@router.get(
    "/objects/{namespace}/{name}/export",
    summary="The live configuration as ScaledObject YAML",
    response_class=PlainTextResponse,
)
def export(namespace: str, name: str, ctx: Ctx) -> Response:
    obj = ctx.obj(namespace, name)
    override = ctx.override(namespace, name)
    meta = views.merged_metadata(obj, override)
    return Response(views.scaled_object_yaml(obj.config, meta), media_type="application/yaml")


def _check_override(ctx: Dashboard, namespace: str, name: str, override: dict[str, str]) -> Any:
    obj = ctx.obj(namespace, name)
    policy = override.get(POLICY_KEY, obj.config.policy.name)
    policies = available_policies()
    if policy not in policies:
        raise HTTPException(
            422, f"unknown policy {policy!r}; available: {', '.join(sorted(policies))}"
        )
    params_model = policies[policy].params_model
    allowed = {POLICY_KEY} | GUARDRAIL_KEYS | policy_keys(params_model)
    bad = sorted(k for k in override if k not in allowed or k in KEDA_KEYS)
    if bad:
        scope = sorted(COMMON_KEYS - GUARDRAIL_KEYS - {POLICY_KEY})
        raise HTTPException(
            422,
            f"override key {bad[0]!r} cannot be set here; allowed: {', '.join(sorted(allowed))}"
            f" (scope keys such as {', '.join(scope[:4])} stay in the ScaledObject)",
        )
    try:
        merged = views.merged_metadata(obj, override)
    except MetadataError as exc:
        raise HTTPException(422, str(exc)) from None
    return obj, merged


@router.post("/objects/{namespace}/{name}/preview", summary="Validate an override; show its YAML")
def preview(namespace: str, name: str, body: OverrideBody, ctx: Ctx) -> dict[str, Any]:
    obj, merged = _check_override(ctx, namespace, name, body.override)
    return {
        "valid": True,
        "override": body.override,
        "metadata": merged,
        "yaml": views.scaled_object_yaml(obj.config, merged),
    }


@router.get("/objects/{namespace}/{name}/override", summary="The override in force, if any")
def get_override(namespace: str, name: str, ctx: Ctx) -> dict[str, Any]:
    ctx.obj(namespace, name)
    return {"override": ctx.override(namespace, name)}


def _simulation_record(ctx: Dashboard, job_id: str | None, key: str) -> dict[str, Any] | None:
    if job_id is None:
        return None
    job = ctx.jobs.get(job_id)
    if job is None or job.object != key:
        raise HTTPException(404, f"no job {job_id!r} for {key}")
    if job.status != "done" or job.result is None:
        raise HTTPException(409, f"job {job_id} is {job.status}, not done")
    comp = job.result.get("comparison", job.result)
    return {
        "job_id": job_id,
        "kind": job.kind,
        "trace": {k: comp["trace"][k] for k in ("name", "duration_s", "requests")},
        "slo_ms": comp["slo_ms"],
        "current": comp["current"],
        "candidate": comp["candidate"],
        "oracle": comp["oracle"],
    }


@router.put(
    "/objects/{namespace}/{name}/override",
    summary="Apply an override (bearer token); the scaler uses it on its next call",
)
def apply_override(
    namespace: str, name: str, body: ApplyBody, ctx: Ctx, request: Request
) -> AuditOut:
    who = ctx.auth.require(request)
    _check_override(ctx, namespace, name, body.override)
    key = f"{namespace}/{name}"
    simulation = _simulation_record(ctx, body.job_id, key)
    try:
        entry = ctx.store.set_override(
            key, body.override, who=who, simulation=simulation, note=body.note
        )
    except StoreError as exc:
        raise HTTPException(503, f"could not save the override: {exc}") from None
    return AuditOut(**entry.as_dict())


@router.delete(
    "/objects/{namespace}/{name}/override",
    summary="Remove the override (bearer token): back to the ScaledObject's own metadata",
)
def clear_override(namespace: str, name: str, ctx: Ctx, request: Request) -> AuditOut:
    who = ctx.auth.require(request)
    ctx.obj(namespace, name)
    try:
        entry = ctx.store.set_override(f"{namespace}/{name}", {}, who=who, action="clear")
    except StoreError as exc:
        raise HTTPException(503, f"could not save: {exc}") from None
    return AuditOut(**entry.as_dict())


@router.get("/audit", summary="Every change, newest first")
def audit(
    ctx: Ctx,
    object: Annotated[str | None, Query(max_length=510, description="namespace/name")] = None,
) -> list[AuditOut]:
    return [AuditOut(**e.as_dict()) for e in ctx.store.audit(object)]


@router.post("/audit/{entry_id}/revert", summary="Undo one change (bearer token)")
def revert(entry_id: str, ctx: Ctx, request: Request) -> AuditOut:
    who = ctx.auth.require(request)
    try:
        entry = ctx.store.entry(entry_id)
    except UnknownEntryError as exc:
        raise HTTPException(404, str(exc)) from None
    obj = ctx.tracker.get(entry.object)
    if obj is not None and entry.old:
        try:
            views.merged_metadata(obj, entry.old)
        except MetadataError as exc:
            raise HTTPException(409, f"cannot restore {entry.old}: {exc}") from None
    try:
        new = ctx.store.set_override(
            entry.object, entry.old, who=who, action="revert", reverts=entry.id
        )
    except StoreError as exc:
        raise HTTPException(503, f"could not save: {exc}") from None
    return AuditOut(**new.as_dict())


@router.get(
    "/policies",
    summary="Every policy with the JSON schema of its parameters, and the metadata key "
    "that names the policy",
)
def policies() -> dict[str, Any]:
    """``key``: the metadata key an override names its policy under (the page builds
    overrides with it, so a rename of the key is one edit in :mod:`scaler.metadata`);
    ``default``: the policy of metadata that names none; ``policies``: name and the
    JSON schema of its parameters (metadata aliases), by name."""
    return {
        "key": POLICY_KEY,
        "default": DEFAULT_POLICY,
        "policies": [
            {"name": name, "schema": p.params_model.model_json_schema(by_alias=True)}
            for name, p in sorted(available_policies().items())
        ],
    }


@router.get("/guardrails", summary="JSON schema of the guardrail keys an override may set")
def guardrails() -> dict[str, Any]:
    return Guardrails.model_json_schema(by_alias=True)


@router.get("/traces", summary="Bundled and uploaded traces")
def traces(ctx: Ctx) -> dict[str, Any]:
    with ctx.lock:
        uploads = {k: trace_summary(t) for k, t in ctx.uploads.items()}
    return {"bundled": ctx.bundled_names(), "uploads": uploads}


@router.post(
    "/traces", summary="Upload a trace file (bearer token; CSV or JSON Lines, size-limited)"
)
async def upload_trace(
    ctx: Ctx,
    request: Request,
    file: Annotated[UploadFile, File(description="CSV/TSV/JSONL trace")],
) -> dict[str, Any]:
    ctx.auth.require(request)
    filename = Path(file.filename or "upload.csv").name
    if not filename.lower().endswith(TRACE_SUFFIXES):
        raise HTTPException(415, f"{filename[:100]!r}: expected one of {', '.join(TRACE_SUFFIXES)}")
    limit = ctx.limits.max_upload_bytes
    with tempfile.TemporaryDirectory(prefix="scaler-upload-") as tmp:
        path = Path(tmp) / filename
        size = 0
        with path.open("wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(
                        413,
                        f"{filename!r} is larger than {limit:,} bytes, the dashboard's upload "
                        "limit (SCALER_DASHBOARD_MAX_UPLOAD_BYTES)",
                    )
                out.write(chunk)
        if size == 0:
            raise HTTPException(422, f"{filename!r} is empty")
        if not ctx.parsing.acquire(blocking=False):
            raise HTTPException(
                429,
                f"{PARSING_UPLOADS} uploads are being read already, the most at once; "
                "try again when one is done",
            )
        try:
            # Inflating and parsing are CPU-bound: off the event loop.
            trace = await run_in_threadpool(_load_upload, path, ctx)
        except TraceSpanError as exc:
            raise HTTPException(
                422,
                f"{filename}:{exc.line}: the trace spans {exc.span_s:,.0f} s or more; the "
                f"dashboard simulates at most {ctx.limits.max_trace_span_s:,} s "
                "(SCALER_DASHBOARD_MAX_TRACE_SPAN_S): upload a shorter trace, or check the "
                "time column's unit",
            ) from None
        except TraceError as exc:
            # Name the file as uploaded, not the temporary path it was read from.
            where = f"{filename}:{exc.line}:{exc.column}"
            raise HTTPException(
                422, clean_message(where + str(exc)[len(f"{exc.path}:{exc.line}:{exc.column}") :])
            ) from None
        except (ValueError, UnicodeDecodeError, OSError, EOFError) as exc:
            raise HTTPException(422, clean_message(f"{filename}: {exc}")) from None
        finally:
            ctx.parsing.release()
    trace_id = ctx.add_upload(trace)
    return {"id": trace_id, "trace": trace_summary(trace)}


def _load_upload(path: Path, ctx: Dashboard) -> Trace:
    """A gzip upload is inflated first, stopping at ``max_inflated_bytes`` (a 99 KB
    gzip can hold 100 MB), then loaded like any trace file."""
    if path.name.lower().endswith(".gz"):
        path = inflate_capped(path, path.with_name(path.name[:-3]), ctx.limits.max_inflated_bytes)
    return load_trace_checked(path, ctx)


def inflate_capped(src: Path, dst: Path, max_bytes: int) -> Path:
    """Decompress gzip ``src`` into ``dst``; ValueError beyond ``max_bytes`` inflated."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    written = 0
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(1 << 16):
            data = inflater.decompress(chunk, max_bytes + 1 - written)
            while True:
                written += len(data)
                if written > max_bytes:
                    raise ValueError(
                        f"inflates to more than {max_bytes:,} bytes, the dashboard's limit "
                        "for compressed traces (SCALER_DASHBOARD_MAX_INFLATED_BYTES); upload "
                        "a shorter or coarser trace"
                    )
                fout.write(data)
                if not inflater.unconsumed_tail:
                    break
                data = inflater.decompress(inflater.unconsumed_tail, max_bytes + 1 - written)
        if not inflater.eof:
            raise ValueError("truncated or corrupt gzip data")
    return dst


def load_trace_checked(path: Path, ctx: Dashboard) -> Trace:

    # Binned at 1 s: the span is refused while reading (TraceSpanError), at the row
    # that makes it too long, before arrays of that length are allocated.
    limit = ctx.limits.max_trace_span_s
    trace = load_trace(path, max_bins=limit)
    if len(trace.rps) > limit:
        raise TraceSpanError(path, 1, 1, "too long", span_s=float(len(trace.rps)))
    if trace.requests <= 0:
        raise ValueError("trace holds no requests")
    return trace


def _trace_loader(
    ctx: Dashboard, ref: BundledTrace | UploadedTrace | PrometheusTrace, key: str
) -> Any:
    if isinstance(ref, BundledTrace):
        names = ctx.bundled_names()
        if ref.name not in names:
            raise HTTPException(
                404, f"no bundled trace {ref.name!r}; available: {', '.join(names) or 'none'}"
            )
        return lambda: ctx.bundled_trace(ref.name)
    if isinstance(ref, UploadedTrace):
        trace = ctx.uploaded_trace(ref.id)
        return lambda: trace
    obj = ctx.tracker.get(key)
    assert obj is not None
    cfg = obj.config
    now = ctx.clock()
    source = strip_url_credentials(cfg.prometheus.url or ctx.settings.prometheus_url)

    def from_prometheus() -> Trace:
        try:
            return prometheus_trace(ctx.tracker.observer, cfg, ref.hours, now_s=now, source=source)
        except HistoryError as exc:
            raise RuntimeError(str(exc)) from None

    return from_prometheus


def _scenarios(
    ctx: Dashboard, namespace: str, name: str, body: WhatIfBody
) -> tuple[dict[str, str], dict[str, str], WhatIfOptions, Any, Any]:
    obj, candidate_meta = _check_override(ctx, namespace, name, body.override)
    current = ctx.override(namespace, name)
    current_meta = views.merged_metadata(obj, current)
    options = WhatIfOptions(
        slo_ms=body.slo_ms,
        startup_s=body.startup_s,
        slo_target=getattr(body, "slo_target", 0.99),
    )
    try:
        current_sc = build_scenario(current_meta, options, name=name)
        candidate_sc = build_scenario(candidate_meta, options, name=name)
    except ScenarioError as exc:
        raise HTTPException(422, str(exc)) from None
    return current_meta, candidate_meta, options, current_sc, candidate_sc


def _submit(ctx: Dashboard, kind: str, key: str, fn: Any, owner: str) -> Job:
    try:
        return ctx.jobs.submit(kind, key, fn, owner=owner)
    except QueueFullError as exc:
        raise HTTPException(429, f"{exc} (SCALER_DASHBOARD_MAX_JOBS)") from None


def _policy_override(meta: dict[str, str], override: dict[str, str]) -> dict[str, str]:
    """The keys of the tuned metadata worth applying: the request's own keys and
    the policy's parameters."""
    policy = available_policies()[meta.get(POLICY_KEY, DEFAULT_POLICY)]
    keys = {POLICY_KEY} | policy_keys(policy.params_model)
    return {k: v for k, v in meta.items() if k in keys or k in override}


@router.post(
    "/objects/{namespace}/{name}/whatif",
    status_code=202,
    summary="Simulate the override beside the current configuration (bearer token; background job)",
)
def whatif(namespace: str, name: str, body: WhatIfBody, ctx: Ctx, request: Request) -> JobOut:
    """Simulate the object's current trigger metadata and the candidate (with the
    override) on the body's trace. Both run with the simulator scenario's KEDA, HPA and
    scaler timers (KEDA polling every 30 s, cooldown 300 s, HPA sync 15 s with 10 %
    tolerance, a decision every 5 s), not the live ScaledObject's ``pollingInterval``
    or the cluster's HPA settings; each run's result names the ScaledObject it ran
    (``scaled_object``: name, metadata) and those ``timers``."""
    owner = ctx.auth.owner(request)
    _, _, _, current_sc, candidate_sc = _scenarios(ctx, namespace, name, body)
    override = dict(body.override)

    def run(trace: Trace, jc: JobContext) -> dict[str, Any]:
        result = run_whatif(trace, current_sc, candidate_sc, jc)
        return {"override": override, "comparison": result}

    return _trace_job(ctx, owner, "whatif", f"{namespace}/{name}", body, run)


@router.post(
    "/objects/{namespace}/{name}/tune",
    status_code=202,
    summary="Search the policy's numeric parameters on a trace (bearer token; background job)",
)
def tune(namespace: str, name: str, body: TuneBody, ctx: Ctx, request: Request) -> JobOut:
    owner = ctx.auth.owner(request)
    _, candidate_meta, options, _, _ = _scenarios(ctx, namespace, name, body)
    override = dict(body.override)
    budget = body.budget

    def run(trace: Trace, jc: JobContext) -> dict[str, Any]:
        result = run_tune(trace, candidate_meta, options, budget, jc)
        best = result.get("best", candidate_meta)
        result["override"] = _policy_override(dict(best), override)
        return result

    return _trace_job(ctx, owner, "tune", f"{namespace}/{name}", body, run)


def _trace_job(
    ctx: Dashboard,
    owner: str,
    kind: str,
    key: str,
    body: WhatIfBody,
    run: Callable[[Trace, JobContext], dict[str, Any]],
) -> JobOut:
    """Submit ``run`` on the body's trace as a background job of ``owner``'s."""
    load = _trace_loader(ctx, body.trace, key)

    def job(jc: JobContext) -> dict[str, Any]:
        jc.progress(0.0, "loading the trace")
        return run(load(), jc)

    return JobOut(**_submit(ctx, kind, key, job, owner).as_dict())


@router.get("/jobs", summary="Recent what-if and tune jobs (without results)")
def jobs(ctx: Ctx) -> list[JobOut]:
    return [JobOut(**{**j.as_dict(), "result": None}) for j in ctx.jobs.list()]


@router.get("/jobs/{job_id}", summary="A job's status, progress and result")
def job(job_id: str, ctx: Ctx) -> JobOut:
    found = ctx.jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return JobOut(**found.as_dict())


@router.post("/jobs/{job_id}/cancel", summary="Stop a queued or running job (its owner only)")
def cancel_job(job_id: str, ctx: Ctx, request: Request) -> JobOut:
    try:
        found = ctx.jobs.cancel(job_id, owner=ctx.auth.owner(request))
    except NotOwnerError as exc:
        raise HTTPException(403, str(exc)) from None
    if found is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return JobOut(**found.as_dict())
