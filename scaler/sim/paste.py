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

from policies import Guardrails
from scaler.metadata import (
    DEFAULT_POLICY,
    FROM_ENV,
    POLICY_KEY,
    CommonMetadata,
    key_of,
    metadata_of,
)

SCOPE_KEYS: tuple[str, ...] = (
    "scalerAddress",  # KEDA's own key: where the external scaler is
    *(
        key_of(CommonMetadata, name)
        for name in (
            "namespace",
            "release",
            "job",
            "model",
            "target_deployment",
            "activation_metric",
        )
    ),
)
"""Where the scaler is and which fleet it reads; none of them changes a decision in the
simulator, all of them matter in a cluster."""

README_SCOPE: dict[str, str] = {
    "scalerAddress": "sonic-scaler.sonic-scaler.svc:9100",
    **metadata_of(
        CommonMetadata(
            release="supersonic",
            target_deployment="supersonic-triton",
            activation_metric=(
                'envoy_cluster_upstream_cx_none_healthy{envoy_cluster_name="triton_grpc_service"}'
            ),
        )
    ),
}
"""The scope of the README's ScaledObject (``tests/tuning`` checks they agree)."""

BOUND_KEYS: tuple[str, ...] = tuple(
    key_of(Guardrails, name) for name in ("min_replicas", "max_replicas")
)


def complete_metadata(
    tuned: Mapping[str, str], min_replicas: int, max_replicas: int
) -> tuple[dict[str, str], list[str]]:
    """(the full metadata, the keys taken from the README example). Order: policy,
    scope, bounds (``tuned``'s own, else the ScaledObject's ``min_replicas`` and
    ``max_replicas``), then the tuned keys as the search produced them. A key ``tuned``
    reads from the environment (``<key>FromEnv``) is given: nothing is added beside it."""
    out: dict[str, str] = {POLICY_KEY: tuned.get(POLICY_KEY, DEFAULT_POLICY)}
    example: list[str] = []
    for key in SCOPE_KEYS:
        if key + FROM_ENV in tuned:
            out[key + FROM_ENV] = str(tuned[key + FROM_ENV])
        elif key in tuned:
            out[key] = str(tuned[key])
        elif key in README_SCOPE:
            out[key] = README_SCOPE[key]
            example.append(key)
    bounds = metadata_of(Guardrails(min_replicas=min_replicas, max_replicas=max_replicas))
    for key in BOUND_KEYS:
        if key + FROM_ENV in tuned:
            out[key + FROM_ENV] = str(tuned[key + FROM_ENV])
        else:
            out[key] = str(tuned.get(key, bounds[key]))
    for key, value in tuned.items():
        if key not in out:
            out[key] = str(value)
    return out, example


def metadata_block(metadata: Mapping[str, str], *, example: list[str] | None = None) -> str:
    """A ready-to-paste trigger ``metadata:`` block (every value a quoted string); keys
    in ``example`` carry a comment saying they are the README's and site-specific."""
    ordered = {POLICY_KEY: metadata[POLICY_KEY]} if POLICY_KEY in metadata else {}
    ordered.update({k: str(v) for k, v in metadata.items() if k != POLICY_KEY})
    marked = set(example or ())
    lines = ["metadata:"]
    for key, value in ordered.items():
        note = "  # the README's; use your own" if key in marked else ""
        lines.append(f"  {key}: {json.dumps(value)}{note}")
    return "\n".join(lines) + "\n"
