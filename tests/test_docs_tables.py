"""The metadata key tables of the README, ``docs/policies.md`` and ``docs/indicators.md``
say what the code does: every row's default and range are the pydantic models' ``Field``
default and bounds, every key of the model a table documents has its row, and every
registered policy's keys are in some table. So a change of a key's default or range that
forgets the docs fails here."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from policies import Guardrails
from policies.base import Policy
from policies.leading import INDICATORS_FIELD
from policies.naming import metadata_fields, metadata_keys
from policies.threshold import DEFAULT_TARGET
from scaler.metadata import CREDENTIAL_KEYS, CommonMetadata
from scaler.registry import available_policies

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "docs/policies.md", "docs/indicators.md")

COMMON: tuple[type[BaseModel], ...] = (CommonMetadata, Guardrails)

RESOLVED_DEFAULTS = {
    "namespace": "the ScaledObject's namespace",
    "serverAddress": "SCALER_PROMETHEUS_URL",
    "target": f"{DEFAULT_TARGET['gpu_utilization']:g} (GPU) / "
    f"{DEFAULT_TARGET['rps_per_replica']:g} (req/s)",
    "indicatorProvisionSeconds": "the wrapped policy's leadTimeSeconds",
}
"""Keys whose model default is None because the value is resolved elsewhere: what the
table says instead (the threshold ``target``'s is :data:`DEFAULT_TARGET`)."""

NOT_KEYS = frozenset({INDICATORS_FIELD})
"""Model fields the metadata layer fills from other keys (``indicator<N>…``), not keys."""

NUMBER = r"-?[0-9][0-9.,]*(?:e[0-9]+)?"


@dataclass(frozen=True)
class Row:
    """One row of a key table: where it is, which models it documents, its cells."""

    where: str
    models: tuple[type[BaseModel], ...]
    key: str
    default: str | None
    range: str | None
    type: str | None = None


@dataclass(frozen=True)
class Table:
    where: str
    models: tuple[type[BaseModel], ...]
    keys: frozenset[str]
    """The keys the table must document (a wrapper's: what it adds to the wrapped policy)."""
    policies: tuple[str, ...]
    """The policies the table is for (none: the common keys)."""
    rows: tuple[Row, ...]
    columns: tuple[str, ...]
    shared: tuple[str, ...]
    """Key cells naming more than one key (one default and range cannot fit both)."""


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def wrapped(policy: Policy) -> Policy | None:
    """The policy ``policy`` wraps (a schedule's ``inner``, leading indicators' ``base``)."""
    inner = getattr(policy, "inner", None) or getattr(policy, "base", None)
    return inner if isinstance(inner, Policy) else None


def own_keys(policy: Policy) -> frozenset[str]:
    """The keys ``policy`` reads that the policy it wraps (if any) does not."""
    keys = metadata_keys(policy.params_model) - NOT_KEYS
    inner = wrapped(policy)
    return keys - metadata_keys(inner.params_model) if inner is not None else keys


def _models(
    text_before: str,
) -> tuple[tuple[type[BaseModel], ...], frozenset[str], tuple[str, ...]]:
    """The models a table documents, the keys it must give and the policies it is for:
    the policies named as ``policy: NAME`` in the paragraph before it (else in its
    section, the text since the last ``## `` heading: the last one named), else the
    common keys."""
    section = text_before.rsplit("\n## ", 1)[-1]
    paragraph = section.rstrip().rsplit("\n\n", 1)[-1]
    named = re.findall(r"`policy: ([\w-]+)`", paragraph)
    if len(named) < 2:
        named = re.findall(r"`policy: ([\w-]+)`", section)[-1:]
    if not named:
        keys = frozenset(k for m in COMMON for k, _, _ in metadata_fields(m))
        return COMMON, keys, ()
    policies = [available_policies()[name] for name in named]
    keys = frozenset(k for p in policies for k in own_keys(p))
    return tuple(p.params_model for p in policies), keys, tuple(named)


def key_tables() -> list[Table]:
    tables: list[Table] = []
    for doc in DOCS:
        lines = (ROOT / doc).read_text().splitlines()
        i = 0
        while i < len(lines):
            header = _cells(lines[i]) if lines[i].startswith("| key |") else None
            if header is None:
                i += 1
                continue
            models, must, policies = _models("\n".join(lines[:i]))
            where = f"{doc}:{i + 1}"
            rows = []
            shared = []
            i += 2  # the header and its |---| line
            while i < len(lines) and lines[i].startswith("|"):
                cells = dict(zip(header, _cells(lines[i]), strict=True))
                keys = re.findall(r"`(\w+)`", cells["key"])
                if len(keys) > 1 and not set(keys) <= set(CREDENTIAL_KEYS):
                    shared.append(cells["key"])
                for key in keys:
                    rows.append(
                        Row(
                            f"{doc}:{i + 1}",
                            models,
                            key,
                            cells.get("default"),
                            cells.get("range"),
                            cells.get("type"),
                        )
                    )
                i += 1
            tables.append(
                Table(where, models, must, policies, tuple(rows), tuple(header), tuple(shared))
            )
    return tables


TABLES = key_tables()
ROWS = [r for t in TABLES for r in t.rows]


def _field(models: tuple[type[BaseModel], ...], key: str) -> FieldInfo | None:
    for model in models:
        for k, _, info in metadata_fields(model):
            if k == key:
                return info
    return None


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _bounds(field: FieldInfo) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in field.metadata:
        for kind in ("ge", "gt", "le", "lt"):
            if isinstance(m, getattr(annotated_types, kind.capitalize())):
                out[kind] = float(getattr(m, kind))
    return out


def documented_bounds(text: str) -> dict[str, float]:
    """Numeric bounds in a range cell: ``a–b`` (≥ a, ≤ b), ``> a``, ``≥ a``, ``≤ b``,
    ``< b``, comma-separated; clauses without a number (``≥ minReplicas``) say no bound."""
    out: dict[str, float] = {}
    for clause in text.replace("`", "").split(","):
        clause = clause.strip()
        if m := re.fullmatch(rf"({NUMBER})–({NUMBER})", clause):
            out["ge"], out["le"] = _number(m[1]), _number(m[2])
        elif m := re.fullmatch(rf"(>|≥|≤|<) ({NUMBER})", clause):
            kind = {">": "gt", "≥": "ge", "≤": "le", "<": "lt"}[m[1]]
            out[kind] = _number(m[2])
    return out


def _choices(annotation: Any) -> set[str] | None:
    """The values of a ``Literal`` annotation (possibly optional), else None."""
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is typing.Literal:
            return {str(a) for a in typing.get_args(arg)}
    return None


def _is_number(annotation: Any) -> bool:
    args = typing.get_args(annotation) or (annotation,)
    return any(a in (int, float) for a in args) and bool not in args


def test_the_tables_are_found() -> None:
    documented = {(t.where.split(":")[0], t.models) for t in TABLES}
    assert ("README.md", COMMON) in documented
    for policy in ("threshold", "adaptive", "pid", "predictive"):
        model = available_policies()[policy].params_model
        assert any(t.models == (model,) for t in TABLES), f"no table for {policy}"


@pytest.mark.parametrize("name", sorted(available_policies()))
def test_every_registered_policy_has_a_checked_table(name: str) -> None:
    """Every key a registered policy reads is in a checked table: its own table (a
    wrapper's gives what it adds), the wrapped policy's, or the common keys'."""
    policy = available_policies()[name]
    assert any(name in t.policies for t in TABLES), f"no key table for policy {name}"
    documented: set[str] = set()
    p: Policy | None = policy
    while p is not None:
        documented |= {r.key for t in TABLES if p.name in t.policies for r in t.rows}
        p = wrapped(p)
    missing = metadata_keys(policy.params_model) - NOT_KEYS - documented
    assert not missing, f"policy {name}: keys without a table row: {sorted(missing)}"


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.where)
def test_every_table_gives_one_key_its_default_and_range(table: Table) -> None:
    assert {"default", "range"} <= set(table.columns), f"{table.where}: {table.columns}"
    assert not table.shared, f"{table.where}: one key per row, not {table.shared}"


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.where)
def test_every_key_of_the_model_has_a_row(table: Table) -> None:
    assert table.rows, f"{table.where}: empty table"
    documented = {r.key for r in table.rows}
    assert sorted(table.keys - documented) == [], f"{table.where} lacks rows"
    unknown = documented - table.keys - set(CREDENTIAL_KEYS)
    assert not unknown, f"{table.where} documents keys the code does not read: {unknown}"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.where}:{r.key}")
def test_the_default_is_the_models(row: Row) -> None:
    field = _field(row.models, row.key)
    if field is None or row.default is None:
        return  # a credential key (a table without the column fails above)
    cell = row.default.replace("`", "")
    default = field.default
    assert default is not PydanticUndefined, f"{row.key} has no default"
    if row.key in RESOLVED_DEFAULTS and default is None:
        assert cell == RESOLVED_DEFAULTS[row.key], row.where
    elif default is None or default == ():
        assert cell in ("unset", "none"), f"{row.where}: {row.key} defaults to nothing"
    elif isinstance(default, bool):
        assert cell == str(default).lower(), f"{row.where}: {row.key} default"
    elif isinstance(default, int | float):
        assert _number(cell) == default, f"{row.where}: {row.key} defaults to {default}"
    else:
        assert cell == str(default), f"{row.where}: {row.key} defaults to {default!r}"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.where}:{r.key}")
def test_the_range_is_the_models(row: Row) -> None:
    field = _field(row.models, row.key)
    if field is None or row.range is None:
        return
    choices = _choices(field.annotation)
    if choices is not None:
        named = set(re.findall(r"`(\w+)`", row.range)) | {str(field.default)}
        assert named == choices, f"{row.where}: {row.key} is one of {sorted(choices)}"
    elif _is_number(field.annotation):
        assert documented_bounds(row.range) == _bounds(field), (
            f"{row.where}: {row.key} is bounded by {_bounds(field)}"
        )


NUMBER_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float,),
    "s": (int, float),
    "ms": (int, float),
    "req/s": (int, float),
}
"""A type column's numeric types: ``int`` a count, ``float`` a number, a unit either."""


@pytest.mark.parametrize(
    "row", [r for r in ROWS if r.type in NUMBER_TYPES], ids=lambda r: f"{r.where}:{r.key}"
)
def test_a_numeric_type_is_the_models(row: Row) -> None:
    field = _field(row.models, row.key)
    assert field is not None, row.where
    args = set(typing.get_args(field.annotation) or (field.annotation,)) - {type(None)}
    assert len(args) == 1 and args <= set(NUMBER_TYPES[row.type or ""]), (
        f"{row.where}: {row.key} is {args}, documented as {row.type}"
    )


@pytest.mark.parametrize("row", [r for r in ROWS if r.range], ids=lambda r: f"{r.where}:{r.key}")
def test_a_key_named_as_a_bound_is_a_key(row: Row) -> None:
    """A range bounded by another key (``≥ minReplicas``) names a key the models read
    today, so renaming that key fails here until the docs say the new name."""
    keys = {k for m in row.models for k in metadata_keys(m)}
    for clause in (row.range or "").replace("`", "").split(","):
        if m := re.fullmatch(r"(>|≥|≤|<) ([A-Za-z]\w*)", clause.strip()):
            assert m[2] in keys, f"{row.where}: {row.key}'s range names {m[2]!r}, not a key"


def test_the_range_reader_reads_every_form() -> None:
    assert documented_bounds("1–10000, ≥ minReplicas") == {"ge": 1, "le": 10_000}
    assert documented_bounds("> 0, ≤ 1e9") == {"gt": 0, "le": 1e9}
    assert documented_bounds("≥ 0") == {"ge": 0}
    assert documented_bounds("0.5–0.999") == {"ge": 0.5, "le": 0.999}


def test_a_default_named_in_the_prose_is_the_models() -> None:
    """Prose that gives a key's default ("`key`, 300 s by default") says the model's."""
    defaults: dict[str, set[Any]] = {}
    for models in {r.models for r in ROWS}:
        for m in models:
            for k, _, info in metadata_fields(m):
                defaults.setdefault(k, set()).add(info.default)
    found = 0
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        for key, value in re.findall(rf"`(\w+)`,? \(?({NUMBER})(?: \w+)? by default", text):
            found += 1
            assert key in defaults, f"{doc}: {key}"
            assert _number(value) in defaults[key], f"{doc}: {key} defaults to {defaults[key]}"
    assert found, "the PID worked example names the stabilisation window's default"
