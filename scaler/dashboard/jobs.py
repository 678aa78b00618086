"""Background what-if and tuning jobs with progress, so a request never waits for a
simulation. One worker (simulations are CPU-bound and the scaler shares the
machine); a bounded queue turns overload into HTTP 429 instead of a pile-up."""

from __future__ import annotations

import hmac
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

KEEP_JOBS = 50
"""Finished jobs remembered (oldest forgotten first)."""


class JobCancelled(Exception):
    """Raised inside a job when it was cancelled; the job ends as ``cancelled``."""


class QueueFullError(RuntimeError):
    """Too many jobs waiting; try again when one finishes."""


class NotOwnerError(PermissionError):
    """Someone other than the job's submitter tried to cancel it."""


@dataclass
class Job:
    id: str
    kind: str
    object: str
    created_s: float
    status: str = "queued"
    progress: float = 0.0
    message: str = "queued"
    result: dict[str, Any] | None = None
    error: str | None = None
    finished_s: float | None = None
    owner: str = ""
    """Who submitted it (the actor and browser session); only they may cancel it."""
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "object": self.object,
            "status": self.status,
            "progress": self.progress,
            "message": self.message,
            "error": self.error,
            "created_s": self.created_s,
            "finished_s": self.finished_s,
            "result": self.result,
        }


class JobContext:
    """What a running job sees: report progress (0–1) and check for cancellation."""

    def __init__(self, job: Job) -> None:
        self._job = job

    def progress(self, fraction: float, message: str | None = None) -> None:
        self.check()
        self._job.progress = min(max(fraction, 0.0), 1.0)
        if message is not None:
            self._job.message = message

    def check(self) -> None:
        if self._job.cancel_event.is_set():
            raise JobCancelled()

    @property
    def cancelled(self) -> bool:
        return self._job.cancel_event.is_set()


JobFn = Callable[[JobContext], dict[str, Any]]


class JobRunner:
    def __init__(self, *, max_queued: int = 4, clock: Callable[[], float] = time.time) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._max_queued = max_queued
        self._clock = clock

    def submit(self, kind: str, object_key: str, fn: JobFn, *, owner: str = "") -> Job:
        with self._lock:
            waiting = sum(1 for j in self._jobs.values() if j.status in ("queued", "running"))
            if waiting >= self._max_queued:
                raise QueueFullError(
                    f"{waiting} what-if/tune jobs already queued or running, the most "
                    "allowed at once; try again when one finishes"
                )
            job = Job(
                id=uuid.uuid4().hex[:12],
                kind=kind,
                object=object_key,
                created_s=self._clock(),
                owner=owner,
            )
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs.values()))
                if oldest.status in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job, fn)
        return job

    def _run(self, job: Job, fn: JobFn) -> None:
        if job.cancel_event.is_set():
            self._finish(job, "cancelled", "cancelled before it started")
            return
        job.status = "running"
        job.message = "running"
        try:
            result = fn(JobContext(job))
        except JobCancelled:
            self._finish(job, "cancelled", "cancelled")
            return
        except Exception as exc:
            job.error = str(exc) or type(exc).__name__
            self._finish(job, "failed", f"failed: {job.error}")
            return
        job.result = result
        job.progress = 1.0
        self._finish(job, "done", "done")

    def _finish(self, job: Job, status: str, message: str) -> None:
        job.message = message
        job.finished_s = self._clock()
        job.status = status

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def cancel(self, job_id: str, *, owner: str = "") -> Job | None:
        """Cancel a job; raises :class:`NotOwnerError` if ``owner`` did not submit it."""
        job = self.get(job_id)
        if job is not None and not hmac.compare_digest(job.owner.encode(), owner.encode()):
            raise NotOwnerError(
                f"job {job_id} was started by someone else; only they may cancel it"
            )
        if job is not None and job.status in ("queued", "running"):
            job.cancel_event.set()
            job.message = "cancelling"
        return job

    def shutdown(self) -> None:
        for job in self.list():
            job.cancel_event.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
