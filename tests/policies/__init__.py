"""Tests of the pure policies, guardrails and pipeline; shared builders below."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policies import Decision, Guardrails, Observation, PipelineState, Policy, decide


def obs(t: float, ready: int, **signals: Any) -> Observation:
    """An observation at ``t`` seconds with ``ready`` replicas and the given signals."""
    return Observation(time_s=t, ready_replicas=ready, **signals)


def run(
    policy: Policy,
    params: Any,
    observations: Iterable[Observation],
    guardrails: Guardrails | None = None,
    state: PipelineState | None = None,
) -> tuple[list[Decision], PipelineState]:
    """Feed observations through the pipeline, deciding at each observation's time."""
    g = guardrails or Guardrails(max_replicas=1000, scale_down_stabilization_s=0)
    s = state or PipelineState()
    out = []
    for o in observations:
        d, s = decide(policy, params, g, o, s, o.time_s)
        out.append(d)
    return out, s
