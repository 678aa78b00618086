"""Guardrails and the pipeline: properties that hold whatever a policy answers."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from policies import (
    Guardrails,
    PipelineState,
    PolicyContext,
    PolicyParams,
    Recommendation,
    Status,
    decide,
)
from policies.guardrails import apply_guardrails, stabilize
from tests.policies import obs


class Scripted:
    """A policy (as a plug-in might be) answering whatever the test says, even nonsense."""

    name: ClassVar[str] = "scripted"
    params_model: ClassVar[type[PolicyParams]] = PolicyParams

    def __init__(self, answers: list[float]) -> None:
        self.answers = list(answers)

    def required_signals(self, params: Any) -> tuple[str, ...]:
        return ("request_rate_rps",)

    def history_s(self, params: Any) -> float:
        return 0.0

    def recommend(self, ctx: PolicyContext, params: Any) -> Recommendation:
        return Recommendation(self.answers.pop(0), "scripted")


def guardrails_st() -> st.SearchStrategy[Guardrails]:
    return st.builds(
        lambda lo, span, up, down, win: Guardrails(
            min_replicas=lo,
            max_replicas=max(lo, 1) + span,
            max_step_up=up,
            max_step_down=down,
            scale_down_stabilization_s=win,
        ),
        st.integers(0, 10),
        st.integers(0, 50),
        st.none() | st.integers(1, 10),
        st.none() | st.integers(1, 10),
        st.sampled_from([0.0, 30.0, 300.0]),
    )


answer = st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 1000)


@settings(max_examples=200, deadline=None)
@given(guardrails_st(), st.lists(answer, min_size=1, max_size=20))
def test_bounds_hold_whatever_a_plugin_answers(g: Guardrails, answers: list[float]) -> None:
    policy = Scripted(answers)
    state = PipelineState()
    for i in range(len(answers)):
        t = 15.0 * i
        d, state = decide(policy, PolicyParams(), g, obs(t, 3, request_rate_rps=1.0), state, t)
        assert g.min_replicas <= d.value <= g.max_replicas


@settings(max_examples=200, deadline=None)
@given(guardrails_st(), st.lists(st.floats(0, 1000), min_size=2, max_size=20))
def test_scale_down_never_exceeds_the_step_limit(g: Guardrails, answers: list[float]) -> None:
    policy = Scripted(answers)
    state = PipelineState()
    prev = None
    for i in range(len(answers)):
        t = 15.0 * i
        d, state = decide(policy, PolicyParams(), g, obs(t, 3, request_rate_rps=1.0), state, t)
        if prev is not None and g.max_step_down is not None:
            assert d.value >= prev - g.max_step_down
        prev = d.value


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 600), st.floats(0, 100)), max_size=10), st.floats(0, 100))
def test_stabilised_value_is_the_window_max(
    window: list[tuple[float, float]], value: float
) -> None:
    now = 600.0
    got, kept = stabilize(value, now, tuple(window), 300.0)
    assert got == max([value] + [v for t, v in window if now - t < 300.0])
    assert kept[-1] == (now, value)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0, 500, allow_nan=False),
    st.floats(0, 500, allow_nan=False),
    st.booleans(),
    guardrails_st(),
)
def test_apply_guardrails_is_monotone_in_the_recommendation(
    a: float, b: float, active: bool, g: Guardrails
) -> None:
    lo, hi = sorted((a, b))
    base = 5.0
    assert (
        apply_guardrails(hi, hi, base, active, g).value
        >= apply_guardrails(lo, lo, base, active, g).value
    )


@settings(max_examples=200, deadline=None)
@given(guardrails_st(), st.floats(0, 1000), st.floats(1, 1000))
def test_missing_data_never_lowers_the_decision(g: Guardrails, first: float, gap: float) -> None:
    d0, state = decide(
        Scripted([first]), PolicyParams(), g, obs(0.0, 3, request_rate_rps=1.0), PipelineState(), 0
    )
    d1, _ = decide(Scripted([]), PolicyParams(), g, None, state, gap)
    assert d1.status in (Status.HOLD, Status.FAIL)
    assert d1.value == d0.value


def test_a_failing_plugin_answer_of_nan_is_treated_as_zero_then_bounded() -> None:
    g = Guardrails(min_replicas=2, max_replicas=10, scale_down_stabilization_s=0)
    d, _ = decide(
        Scripted([float("nan")]),
        PolicyParams(),
        g,
        obs(0.0, 3, request_rate_rps=1.0),
        PipelineState(),
        0.0,
    )
    assert d.value == 2 and "min_replicas" in d.guardrails


def test_guardrails_reject_max_below_min() -> None:
    with pytest.raises(ValueError, match="maxReplicas"):
        Guardrails(min_replicas=5, max_replicas=3)


class RenamedBounds(Guardrails):
    """Guardrails whose bounds are spelled as KEDA spells its own: a rename of both keys."""

    min_replicas: int = Field(default=0, ge=0, le=10_000, alias="minReplicaCount")
    max_replicas: int = Field(default=100, ge=1, le=10_000, alias="maxReplicaCount")


def test_the_bounds_error_names_the_keys_as_the_model_spells_them() -> None:
    """The message is built from the fields' aliases: renamed keys are named, the old
    spellings are not."""
    with pytest.raises(ValueError) as current:
        Guardrails(min_replicas=5, max_replicas=2)
    assert "maxReplicas (2) must be ≥ minReplicas (5)" in str(current.value)
    with pytest.raises(ValueError) as renamed:
        RenamedBounds(min_replicas=5, max_replicas=2)
    message = str(renamed.value)
    assert "maxReplicaCount (2) must be ≥ minReplicaCount (5)" in message
    assert "maxReplicas" not in message and "minReplicas" not in message


def test_the_schema_help_names_the_lower_bound_by_its_current_key() -> None:
    """The dashboard's help for the highest count says which key bounds it, renamed too."""
    help_now = Guardrails.model_json_schema(by_alias=True)["properties"]["maxReplicas"]
    assert help_now["description"].endswith("(≥ minReplicas).")
    renamed = RenamedBounds.model_json_schema(by_alias=True)["properties"]["maxReplicaCount"]
    assert renamed["description"].endswith("(≥ minReplicaCount).")
