"""The trigger ``metadata:`` block ``scaler tune`` prints: complete, so it replaces the
whole ``metadata:`` of the README's ScaledObject (or a site's own) and deploys as is.

Complete means: the scaler's address and scope (which Triton fleet the queries
select), the replica bounds the candidates were simulated with, and the tuned policy
keys. Scope keys given to the search (``--set release=...`` or a scenario's trigger
metadata) are kept; the others are the README example's, marked for the site to
change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

SCOPE_KEYS: tuple[str, ...] = (
    "scalerAddress",
    "namespace",
    "release",
    "job",
    "model",
    "targetDeployment",
    "activationMetric",
)
"""Where the scaler is and which fleet it reads; none of them changes a decision in the
simulator, all of them matter in a cluster."""

README_SCOPE: dict[str, str] = {
    "scalerAddress": "sonic-scaler.sonic-scaler.svc:9100",
    "release": "supersonic",
    "targetDeployment": "supersonic-triton",
    "activationMetric": (
        'envoy_cluster_upstream_cx_none_healthy{envoy_cluster_name="triton_grpc_service"}'
    ),
}
"""The scope of the README's ScaledObject (``tests/tuning`` checks they agree)."""

BOUND_KEYS: tuple[str, ...] = ("minReplicas", "maxReplicas")


def complete_metadata(
    tuned: Mapping[str, str], min_replicas: int, max_replicas: int
) -> tuple[dict[str, str], list[str]]:
    """(the full metadata, the keys taken from the README example). Order: policy,
    scope, bounds (``tuned``'s own, else the ScaledObject's ``min_replicas`` and
    ``max_replicas``), then the tuned keys as the search produced them."""
    out: dict[str, str] = {"policy": tuned.get("policy", "threshold")}
    example: list[str] = []
    for key in SCOPE_KEYS:
        if key in tuned:
            out[key] = str(tuned[key])
        elif key in README_SCOPE:
            out[key] = README_SCOPE[key]
            example.append(key)
    bounds = {"minReplicas": str(min_replicas), "maxReplicas": str(max_replicas)}
    for key in BOUND_KEYS:
        out[key] = str(tuned.get(key, bounds[key]))
    for key, value in tuned.items():
        if key not in out:
            out[key] = str(value)
    return out, example


def metadata_block(metadata: Mapping[str, str], *, example: list[str] | None = None) -> str:
    """A ready-to-paste trigger ``metadata:`` block (every value a quoted string); keys
    in ``example`` carry a comment saying they are the README's and site-specific."""
    ordered = {"policy": metadata["policy"]} if "policy" in metadata else {}
    ordered.update({k: str(v) for k, v in metadata.items() if k != "policy"})
    marked = set(example or ())
    lines = ["metadata:"]
    for key, value in ordered.items():
        note = "  # the README's; use your own" if key in marked else ""
        lines.append(f"  {key}: {json.dumps(value)}{note}")
    return "\n".join(lines) + "\n"
