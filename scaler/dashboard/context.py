"""Everything the dashboard's routes share: the tracker, the store, jobs, traces."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import HTTPException

from scaler.dashboard.jobs import JobRunner
from scaler.dashboard.security import TokenAuth
from scaler.overrides.store import OverrideStore
from scaler.settings import ServerSettings
from scaler.traces.loader import load_trace
from scaler.traces.model import Trace
from scaler.tracker import ObjectTracker, TrackedObject

TRACE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".csv.gz", ".jsonl.gz")
KEEP_UPLOADS = 8
KEEP_BUNDLED = 4
PARSING_UPLOADS = 2
"""Uploads inflated and parsed at once (each is CPU-bound, up to about a minute of a
core for a file at the inflated limit); more get 429 until one is done."""


@dataclass(frozen=True)
class Limits:
    """The dashboard's bounds, from the ``SCALER_DASHBOARD_MAX_*`` settings (their
    descriptions in :class:`ServerSettings` say why and what happens at each)."""

    max_upload_bytes: int
    """Largest trace file accepted (bytes)."""
    max_inflated_bytes: int
    """Largest size a gzip upload may inflate to (bytes); checked while inflating."""
    max_trace_span_s: int
    """Longest span of an uploaded trace (seconds, 1 s steps); refused while reading."""
    max_jobs: int
    """What-if and tune jobs queued or running at once; more get 429."""

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> Limits:
        return cls(
            max_upload_bytes=settings.dashboard_max_upload_bytes,
            max_inflated_bytes=settings.dashboard_max_inflated_bytes,
            max_trace_span_s=settings.dashboard_max_trace_span_s,
            max_jobs=settings.dashboard_max_jobs,
        )


@dataclass
class Dashboard:
    tracker: ObjectTracker
    settings: ServerSettings
    store: OverrideStore
    auth: TokenAuth
    jobs: JobRunner
    clock: Callable[[], float]
    traces_dir: Path | None
    limits: Limits
    uploads: OrderedDict[str, Trace] = field(default_factory=OrderedDict)
    bundled: OrderedDict[str, Trace] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    parsing: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(PARSING_UPLOADS)
    )

    def obj(self, namespace: str, name: str) -> TrackedObject:
        found = self.tracker.get(f"{namespace}/{name}")
        if found is None:
            raise HTTPException(404, f"no ScaledObject {namespace}/{name} is served by this scaler")
        return found

    def override(self, namespace: str, name: str) -> dict[str, str]:
        return dict(self.store.overrides_for(namespace, name))

    def bundled_names(self) -> list[str]:
        if self.traces_dir is None or not self.traces_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.traces_dir.iterdir()
            if p.is_file() and p.name.lower().endswith(TRACE_SUFFIXES)
        )

    def bundled_trace(self, name: str) -> Trace:
        if name not in self.bundled_names():
            raise HTTPException(
                404, f"no bundled trace {name!r}; available: {', '.join(self.bundled_names())}"
            )
        with self.lock:
            cached = self.bundled.get(name)
        if cached is not None:
            return cached
        assert self.traces_dir is not None
        trace = load_trace(self.traces_dir / name)
        with self.lock:
            self.bundled[name] = trace
            while len(self.bundled) > KEEP_BUNDLED:
                self.bundled.popitem(last=False)
        return trace

    def add_upload(self, trace: Trace) -> str:
        trace_id = uuid.uuid4().hex[:12]
        with self.lock:
            self.uploads[trace_id] = trace
            while len(self.uploads) > KEEP_UPLOADS:
                self.uploads.popitem(last=False)
        return trace_id

    def uploaded_trace(self, trace_id: str) -> Trace:
        with self.lock:
            found = self.uploads.get(trace_id)
        if found is None:
            raise HTTPException(404, f"no uploaded trace {trace_id!r} (uploads are kept in memory)")
        return found
