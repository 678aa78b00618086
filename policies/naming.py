"""One naming rule from a parameter's Python name to its ScaledObject metadata key.

camelCase, and a duration in seconds (``…_s`` in Python) is spelled ``…Seconds`` in
metadata: ``lead_time_s`` → ``leadTimeSeconds``, ``scale_down_stabilization_s`` →
``scaleDownStabilizationSeconds``. Other units keep their short suffix (``target_ms``
→ ``targetMs``, ``activation_rps`` → ``activationRps``). Every pydantic model read
from metadata uses :func:`metadata_alias` as its alias generator, and every place that
needs a field's key calls :func:`metadata_key`, so a rename is one edit.

The key a field had before this rule (plain camelCase, ``leadTimeS``) is its
*legacy* key, still accepted with a deprecation warning by the metadata parser.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

SECONDS_SUFFIX = "_s"


def metadata_alias(name: str) -> str:
    """The metadata key of the Python field ``name`` (see the module docstring)."""
    if name.endswith(SECONDS_SUFFIX):
        name = name[: -len(SECONDS_SUFFIX)] + "_seconds"
    return to_camel(name)


def legacy_alias(name: str) -> str:
    """The key ``name`` had before the naming rule: plain camelCase (``leadTimeS``)."""
    return to_camel(name)


def metadata_key(name: str, field: FieldInfo) -> str:
    """The metadata key of a model field: its alias, else its name."""
    return field.alias or name


def metadata_fields(model: type[BaseModel]) -> Iterator[tuple[str, str, FieldInfo]]:
    """``(key, python name, field)`` of every field of ``model``."""
    for name, field in model.model_fields.items():
        yield metadata_key(name, field), name, field


def metadata_keys(model: type[BaseModel]) -> frozenset[str]:
    """Every metadata key ``model`` reads."""
    return frozenset(key for key, _, _ in metadata_fields(model))


def legacy_keys(model: type[BaseModel]) -> dict[str, str]:
    """``{legacy key: key}`` for every field of ``model`` whose key the rule changed."""
    out: dict[str, str] = {}
    for key, name, _ in metadata_fields(model):
        old = legacy_alias(name)
        if old != key:
            out[old] = key
    return out
