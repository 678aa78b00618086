"""Where parameter overrides applied from the dashboard live, with their audit log.

One JSON document holds both: ``{"overrides": {"ns/name": {key: value}}, "audit":
[...]}``. It is kept in a local file (atomic replace) by default, or in a
Kubernetes ConfigMap (keys ``overrides.json`` and ``audit.json``) when the scaler
runs in a cluster, so every replica sees the same overrides. Writes are
read-modify-write with optimistic concurrency: a ConfigMap write carries the
``resourceVersion`` it read and is retried on a 409 conflict.

The scaler reads overrides through :meth:`OverrideStore.overrides_for` on every
call; it serves from a cache refreshed every ``cache_s`` seconds (writes made
through this store are visible at once), so the hot gRPC path never waits on
the disk or the API server.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from scaler.overrides.configmap import KubernetesConfigMap
from scaler.overrides.errors import ConflictError, StoreError

AUDIT_KEEP = 1000
"""Audit entries kept (oldest dropped): a ConfigMap holds at most 1 MiB."""

WRITE_ATTEMPTS = 5


class UnknownEntryError(LookupError):
    """No audit entry with this id."""


@dataclass(frozen=True)
class AuditEntry:
    """One change: ``old`` and ``new`` are the object's whole override before and
    after (``{}``: none); ``simulation`` is the what-if summary that justified it."""

    id: str
    time: str
    who: str
    object: str
    action: str
    old: dict[str, str]
    new: dict[str, str]
    simulation: dict[str, Any] | None = None
    reverts: str | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Document:
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)


class Backend(Protocol):
    """Persistence of the document with a version for optimistic concurrency."""

    description: str

    def load(self) -> tuple[Document, str | None]:
        """The stored document and its version (None when it does not exist yet)."""
        ...

    def save(self, doc: Document, version: str | None) -> None:
        """Store ``doc`` if the stored version is still ``version``, else ConflictError."""
        ...


def _entry(raw: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(
        id=str(raw["id"]),
        time=str(raw["time"]),
        who=str(raw.get("who", "")),
        object=str(raw["object"]),
        action=str(raw.get("action", "apply")),
        old={str(k): str(v) for k, v in dict(raw.get("old") or {}).items()},
        new={str(k): str(v) for k, v in dict(raw.get("new") or {}).items()},
        simulation=raw.get("simulation"),
        reverts=raw.get("reverts"),
        note=str(raw.get("note", "")),
    )


def decode(overrides_json: str | None, audit_json: str | None, where: str) -> Document:
    try:
        overrides = json.loads(overrides_json) if overrides_json else {}
        audit = json.loads(audit_json) if audit_json else []
        return Document(
            overrides={
                str(k): {str(a): str(b) for a, b in dict(v).items()} for k, v in overrides.items()
            },
            audit=[_entry(e) for e in audit],
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StoreError(f"{where}: not a valid overrides document: {exc}") from None


def encode_overrides(doc: Document) -> str:
    return json.dumps(doc.overrides, indent=1, sort_keys=True)


def encode_audit(doc: Document) -> str:
    return json.dumps([e.as_dict() for e in doc.audit[-AUDIT_KEEP:]], indent=0)


class FileBackend:
    """A JSON file replaced atomically (write to a temporary file, fsync, rename);
    the version is the file's modification time and size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file {path}"
        self._lock = threading.Lock()

    def _version(self) -> str | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return f"{st.st_mtime_ns}-{st.st_size}"

    def load(self) -> tuple[Document, str | None]:
        try:
            version = self._version()
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Document(), None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            raw = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise StoreError(f"{self.path}: not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise StoreError(f"{self.path}: expected a JSON object")
        doc = decode(
            json.dumps(raw.get("overrides", {})), json.dumps(raw.get("audit", [])), str(self.path)
        )
        return doc, version

    def save(self, doc: Document, version: str | None) -> None:
        with self._lock:
            if self._version() != version:
                raise ConflictError(f"{self.path} changed since it was read")
            body = {
                "overrides": json.loads(encode_overrides(doc)),
                "audit": json.loads(encode_audit(doc)),
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".overrides-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(body, f, indent=1, sort_keys=True)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                raise StoreError(f"{self.path}: cannot write: {exc.strerror}") from None


class ConfigMapClient(Protocol):
    """The two calls the ConfigMap store needs from a Kubernetes client.

    ``read`` returns the ConfigMap's ``data`` and ``resourceVersion`` (``({}, None)``
    when it does not exist); ``write`` creates it (``resource_version`` None) or
    replaces it only at that version, raising :class:`ConflictError` on HTTP 409.
    """

    def read(self) -> tuple[dict[str, str], str | None]: ...

    def write(self, data: dict[str, str], resource_version: str | None) -> None: ...


class ConfigMapBackend:
    def __init__(self, client: ConfigMapClient, description: str) -> None:
        self._client = client
        self.description = f"ConfigMap {description}"

    def load(self) -> tuple[Document, str | None]:
        data, version = self._client.read()
        doc = decode(data.get("overrides.json"), data.get("audit.json"), self.description)
        return doc, version

    def save(self, doc: Document, version: str | None) -> None:
        self._client.write(
            {"overrides.json": encode_overrides(doc), "audit.json": encode_audit(doc)}, version
        )


def _now_iso(now_s: float) -> str:
    moment = datetime.fromtimestamp(now_s, tz=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class OverrideStore:
    """Overrides per ScaledObject (``namespace/name``) and the audit log of changes."""

    def __init__(
        self,
        backend: Backend,
        *,
        cache_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self._cache_s = cache_s
        self._clock = clock
        self._lock = threading.Lock()
        self._doc = Document()
        self._loaded_at: float | None = None
        self.last_error: str | None = None

    @property
    def description(self) -> str:
        return self.backend.description

    def _current(self) -> Document:
        now = time.monotonic()
        with self._lock:
            fresh = self._loaded_at is not None and now - self._loaded_at < self._cache_s
            if fresh:
                return self._doc
        try:
            doc, _ = self.backend.load()
            self.last_error = None
        except StoreError as exc:
            self.last_error = str(exc)
            doc = self._doc
        with self._lock:
            self._doc = doc
            self._loaded_at = now
        return doc

    def overrides_for(self, namespace: str, name: str) -> Mapping[str, str]:
        """The tracker's hook: this object's override (``{}`` when none). A store that
        cannot be read keeps serving what it last read rather than dropping overrides."""
        return dict(self._current().overrides.get(f"{namespace}/{name}", {}))

    def all_overrides(self) -> dict[str, dict[str, str]]:
        return {k: dict(v) for k, v in self._current().overrides.items()}

    def audit(self, object_key: str | None = None) -> list[AuditEntry]:
        """Entries newest first, optionally for one object."""
        entries = self._current().audit
        return [e for e in reversed(entries) if object_key is None or e.object == object_key]

    def entry(self, entry_id: str) -> AuditEntry:
        for e in self._current().audit:
            if e.id == entry_id:
                return e
        raise UnknownEntryError(f"no audit entry {entry_id!r}")

    def set_override(
        self,
        object_key: str,
        new: Mapping[str, str],
        *,
        who: str,
        action: str = "apply",
        simulation: dict[str, Any] | None = None,
        reverts: str | None = None,
        note: str = "",
    ) -> AuditEntry:
        """Replace the object's override with ``new`` (``{}`` removes it), log it."""
        last: StoreError | None = None
        for _ in range(WRITE_ATTEMPTS):
            doc, version = self.backend.load()
            old = dict(doc.overrides.get(object_key, {}))
            entry = AuditEntry(
                id=uuid.uuid4().hex[:12],
                time=_now_iso(self._clock()),
                who=who,
                object=object_key,
                action=action,
                old=old,
                new=dict(new),
                simulation=simulation,
                reverts=reverts,
                note=note,
            )
            overrides = dict(doc.overrides)
            if new:
                overrides[object_key] = dict(new)
            else:
                overrides.pop(object_key, None)
            updated = Document(overrides=overrides, audit=[*doc.audit, entry][-AUDIT_KEEP:])
            try:
                self.backend.save(updated, version)
            except ConflictError as exc:
                last = exc
                continue
            with self._lock:
                self._doc = updated
                self._loaded_at = time.monotonic()
            return entry
        raise StoreError(f"{self.description}: gave up after {WRITE_ATTEMPTS} conflicts: {last}")


def build_store(
    overrides_file: Path | None,
    overrides_configmap: str | None,
    *,
    configmap_client: Callable[[str, str], ConfigMapClient] | None = None,
    default_dir: Path | None = None,
) -> OverrideStore:
    """The store the settings ask for: a ConfigMap (``NAMESPACE/NAME``) if set, else
    the file (default ``overrides.json`` in ``default_dir`` or the working directory)."""
    if overrides_configmap:
        namespace, _, name = overrides_configmap.partition("/")
        if not namespace or not name:
            raise ValueError(
                f"overrides_configmap {overrides_configmap!r}: expected NAMESPACE/NAME"
            )
        factory = configmap_client or kube_configmap_client
        return OverrideStore(
            ConfigMapBackend(factory(namespace, name), overrides_configmap), cache_s=5.0
        )
    path = overrides_file or (default_dir or Path.cwd()) / "overrides.json"
    return OverrideStore(FileBackend(path))


def kube_configmap_client(namespace: str, name: str) -> ConfigMapClient:
    """A ConfigMap client from the in-cluster (or kubeconfig) credentials."""
    return KubernetesConfigMap.from_environment(namespace, name)
