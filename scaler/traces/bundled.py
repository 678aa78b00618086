"""Traces shipped with the project, found by name: ``--trace ligo`` or
``--trace ligo.csv`` work from any directory, in a checkout and in an installed wheel.

In the source tree ``scaler/traces/data`` is a symlink to ``simulations/traces``; a
wheel build copies the files it points at into the package, so
:mod:`importlib.resources` finds them in both cases, whatever the working directory
(``simulations/traces/`` next to the package is the fallback of a checkout whose
symlink was lost). The list lives in ``index.yaml`` beside the trace files, with each
trace's provenance and licence.

A file the user names always wins: a bundled trace is used only when no such
file exists, and the caller says so (:func:`resolve_trace`).
"""

from __future__ import annotations

import importlib.resources
import shutil
import tempfile
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "LIGO",
    "BundledTrace",
    "bundled_trace",
    "bundled_traces",
    "bundled_traces_dir",
    "find_bundled",
    "resolve_trace",
]

INDEX = "index.yaml"
CHECKOUT_DIR = Path(__file__).resolve().parents[2] / "simulations" / "traces"
LIGO = "ligo.csv"
"""The synthetic LIGO-like day (``simulations/traces/README.md``)."""


def bundled_traces_dir() -> Path:
    """The directory of bundled traces (a real directory: the package is never zipped)."""
    return Path(str(importlib.resources.files("scaler.traces") / "data"))


def bundled_trace(name: str) -> Path:
    """The bundled trace file ``name`` (e.g. ``ligo.csv``); it may not exist."""
    return bundled_traces_dir() / name


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    file: str
    description: str
    source: str
    licence: str
    sha256: str | None = None


class _Index(BaseModel):
    model_config = ConfigDict(extra="forbid")

    traces: list[_Entry]


@dataclass(frozen=True, slots=True)
class BundledTrace:
    """One shipped trace: ``name`` to ask for it by, ``path`` to read it from."""

    name: str
    file: str
    description: str
    source: str
    licence: str
    path: Path


def _folders() -> list[Traversable]:
    return [importlib.resources.files("scaler.traces") / "data", CHECKOUT_DIR]


def _index_folder() -> Traversable | None:
    for folder in _folders():
        if (folder / INDEX).is_file():
            return folder
    return None


def _local(resource: Traversable) -> Path:
    """A filesystem path for ``resource`` (a copy in a temporary folder when the
    package is not unpacked on disk, such as a zip import)."""
    if isinstance(resource, Path):
        return resource
    target = Path(tempfile.mkdtemp(prefix="scaler-trace-")) / resource.name
    with resource.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def bundled_traces() -> list[BundledTrace]:
    """Every shipped trace, in the index's order (empty when none is shipped)."""
    folder = _index_folder()
    if folder is None:
        return []
    try:
        index = _Index.model_validate(yaml.safe_load((folder / INDEX).read_text("utf-8")))
    except (yaml.YAMLError, ValidationError) as error:
        raise ValueError(f"bundled trace index {folder / INDEX} is invalid: {error}") from None
    out = []
    for e in index.traces:
        resource = folder / e.file
        path = resource if isinstance(resource, Path) else Path(str(resource))
        out.append(BundledTrace(e.name, e.file, e.description, e.source, e.licence, path))
    return out


def _stem(name: str) -> str:
    return name.split(".", 1)[0].lower()


def find_bundled(name: str) -> BundledTrace | None:
    """The shipped trace called ``name`` (its name or file name, with or without
    an extension, case-insensitive), else ``None``."""
    wanted = Path(name).name.lower()
    for trace in bundled_traces():
        if wanted in (trace.name.lower(), trace.file.lower()) or _stem(wanted) in (
            trace.name.lower(),
            _stem(trace.file),
        ):
            return trace
    return None


def resolve_trace(path: Path) -> tuple[Path, BundledTrace | None]:
    """``path`` itself when it exists (or names no shipped trace); otherwise the
    shipped trace of that name and its entry, so the caller can say it used it."""
    if path.exists():
        return path, None
    found = find_bundled(str(path))
    if found is None:
        return path, None
    folder = _index_folder()
    resource = found.path if folder is None else folder / found.file
    return _local(resource), found
