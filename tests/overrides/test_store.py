"""The override store: atomic file writes, the audit log, a ConfigMap backend that
retries on 409, and a broken store never dropping the overrides in force."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaler.overrides.errors import ConflictError, StoreError
from scaler.overrides.store import (
    ConfigMapBackend,
    FileBackend,
    OverrideStore,
    UnknownEntryError,
    build_store,
)


class FlakyConfigMap:
    """A ConfigMap whose first ``conflicts`` writes lose a race (HTTP 409)."""

    def __init__(self, conflicts: int) -> None:
        self.data: dict[str, str] = {}
        self.version: str | None = None
        self.conflicts = conflicts
        self.writes = 0

    def read(self) -> tuple[dict[str, str], str | None]:
        return dict(self.data), self.version

    def write(self, data: dict[str, str], resource_version: str | None) -> None:
        self.writes += 1
        if self.conflicts > 0:
            self.conflicts -= 1
            self.version = f"{self.writes}-other"
            raise ConflictError("changed")
        if resource_version != self.version:
            raise ConflictError("stale resourceVersion")
        self.data = dict(data)
        self.version = str(self.writes)


def test_file_store_keeps_overrides_and_audit_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    store = OverrideStore(FileBackend(path), cache_s=0.0)
    entry = store.set_override("ns/a", {"target": "80"}, who="token", simulation={"gpu_hours": 1})
    again = OverrideStore(FileBackend(path), cache_s=0.0)
    assert again.overrides_for("ns", "a") == {"target": "80"}
    assert again.entry(entry.id).simulation == {"gpu_hours": 1}
    assert not list(tmp_path.glob(".overrides-*")), "temporary files are renamed into place"


def test_clearing_removes_the_override_and_logs_the_old_value(tmp_path: Path) -> None:
    store = OverrideStore(FileBackend(tmp_path / "o.json"), cache_s=0.0)
    store.set_override("ns/a", {"target": "80"}, who="token")
    cleared = store.set_override("ns/a", {}, who="token", action="clear")
    assert cleared.old == {"target": "80"} and cleared.new == {}
    assert store.overrides_for("ns", "a") == {}
    assert [e.action for e in store.audit("ns/a")] == ["clear", "apply"]
    with pytest.raises(UnknownEntryError):
        store.entry("nope")


def test_a_concurrent_writer_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    backend = FileBackend(path)
    OverrideStore(backend).set_override("ns/a", {"target": "80"}, who="token")
    _, version = backend.load()
    OverrideStore(FileBackend(path)).set_override("ns/b", {"target": "90"}, who="token")
    doc, _ = backend.load()
    with pytest.raises(ConflictError):
        backend.save(doc, version)


def test_configmap_store_retries_on_conflict(tmp_path: Path) -> None:
    cm = FlakyConfigMap(conflicts=2)
    store = OverrideStore(ConfigMapBackend(cm, "scaler/overrides"), cache_s=0.0)
    store.set_override("ns/a", {"target": "80"}, who="token")
    assert cm.writes == 3
    assert '"target": "80"' in cm.data["overrides.json"]
    assert store.audit()[0].new == {"target": "80"}


def test_configmap_store_gives_up_after_repeated_conflicts() -> None:
    store = OverrideStore(ConfigMapBackend(FlakyConfigMap(conflicts=99), "x/y"), cache_s=0.0)
    with pytest.raises(StoreError, match="gave up"):
        store.set_override("ns/a", {"target": "80"}, who="token")


def test_unreadable_file_keeps_serving_the_last_overrides(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    store = OverrideStore(FileBackend(path), cache_s=0.0)
    store.set_override("ns/a", {"target": "80"}, who="token")
    path.write_text("{not json")
    assert store.overrides_for("ns", "a") == {"target": "80"}
    assert store.last_error is not None and "not valid JSON" in store.last_error


def test_build_store_picks_the_configmap_when_named(tmp_path: Path) -> None:
    cm = FlakyConfigMap(conflicts=0)
    store = build_store(None, "scaler/overrides", configmap_client=lambda ns, name: cm)
    assert store.description == "ConfigMap scaler/overrides"
    assert build_store(tmp_path / "x.json", None).description == f"file {tmp_path / 'x.json'}"
    with pytest.raises(ValueError, match="NAMESPACE/NAME"):
        build_store(None, "nonamespace")
