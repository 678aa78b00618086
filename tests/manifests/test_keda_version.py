"""The KEDA version the docs require is the one the examples need, and the CRD the
examples are validated against (tests/reference) has every field they use.

When each ScaledObject field appeared in KEDA (kedacore/keda-docs, scaledobject-spec of
each version): ``fallback.behavior`` in 2.17, the HPA ``tolerance`` under
``advanced.horizontalPodAutoscalerConfig.behavior.scaleUp/scaleDown`` in 2.18. Adding a
newer field to an example without raising the stated minimum fails here.
"""

from __future__ import annotations

import re
from typing import Any

from tests.manifests.rendered import MANIFESTS, all_scaled_objects, keda_scaledobject_schema

KEDA_MINIMUM = (2, 18)

BEHAVIOR = ("spec", "advanced", "horizontalPodAutoscalerConfig", "behavior")
FIELD_SINCE: dict[tuple[str, ...], tuple[int, int]] = {
    ("spec", "fallback", "behavior"): (2, 17),
    (*BEHAVIOR, "scaleUp", "tolerance"): (2, 18),
    (*BEHAVIOR, "scaleDown", "tolerance"): (2, 18),
}
"""Fields newer than KEDA 2.16 and the first version whose CRD has them."""


def paths(value: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every key path in ``value`` (list items share their list's path)."""
    out: set[tuple[str, ...]] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            out.add((*prefix, key))
            out |= paths(item, (*prefix, key))
    elif isinstance(value, list):
        for item in value:
            out |= paths(item, prefix)
    return out


def test_the_stated_minimum_is_the_newest_field_the_examples_use() -> None:
    used = set().union(*(paths(so) for _, so in all_scaled_objects()))
    needed = max(since for path, since in FIELD_SINCE.items() if path in used)
    assert needed == KEDA_MINIMUM


def test_the_docs_state_that_minimum() -> None:
    wanted = "KEDA ≥ {}.{}".format(*KEDA_MINIMUM)
    docs = (MANIFESTS.parent / "docs" / "deploy.md").read_text()
    readme = (MANIFESTS.parent / "README.md").read_text()
    assert wanted in docs and wanted in readme
    assert not re.search(r"KEDA ≥ 2\.x", docs + readme)


def test_the_reference_crd_has_every_versioned_field() -> None:
    """So validating the examples against it means something for these fields."""
    schema = keda_scaledobject_schema()
    for path in FIELD_SINCE:
        node = schema
        for key in path:
            node = node["properties"][key]
    fallback = schema["properties"]["spec"]["properties"]["fallback"]["properties"]
    assert "currentReplicasIfHigher" in fallback["behavior"]["enum"]
