"""Leading indicators around a policy: provision ahead of announced work, give it back
when the work does not come."""

from __future__ import annotations

import dataclasses
import math

import pytest

from policies import Guardrails, Observation, PipelineState, decide
from policies.indicators import IndicatorSettings
from policies.leading import with_indicators
from policies.predictive import PredictivePolicy
from tests.policies.test_indicators import campaign_history

LEADING = with_indicators(PredictivePolicy())
BASE = {
    "capacity_rps_prior": 80.0,
    "capacity_blend": 0.0,
    "lead_time_s": 105.0,
    "peak_window_s": 120.0,
    "quantile": 0.9,
    "trend_weight": 0.0,
}
G = Guardrails(max_replicas=1000, scale_down_stabilization_s=300)


def params(**indicator: float | None) -> object:
    return LEADING.params_model.model_validate(
        BASE | {"indicators": (IndicatorSettings("jobs", **indicator),)}  # type: ignore[arg-type]
    )


def quiet(t0: float, t1: float, jobs: float, rate: float = 160.0) -> list[Observation]:
    return [
        Observation(
            time_s=float(t),
            ready_replicas=3,
            request_rate_rps=rate,
            queue_time_per_request_ms=5.0,
            activation_rps=rate,
            indicators=(jobs,),
        )
        for t in range(int(t0), int(t1), 15)
    ]


def run(observations: list[Observation], p: object) -> list[tuple[float, float, str]]:
    state = PipelineState()
    out = []
    for o in observations:
        d, state = decide(LEADING, p, G, o, state, o.time_s)
        out.append((o.time_s, d.value, d.reason))
    return out


def test_the_registry_name_and_params() -> None:
    assert LEADING.name == "leading-predictive"
    p = params(load_per_unit=50.0, lead_s=180.0)
    assert p.indicator_horizon_s == 300.0  # type: ignore[attr-defined]
    assert p.capacity_rps_prior == 80.0  # type: ignore[attr-defined]


def test_announced_jobs_are_provisioned_before_their_first_request() -> None:
    before = quiet(0, 1800, 0.0)
    announced = quiet(1800, 1980, 16.0)
    decisions = run(before + announced, params(load_per_unit=50.0, lead_s=180.0))
    at_quiet = decisions[len(before) - 1][1]
    at_announce = decisions[len(before) + 1]
    # 160 req/s at 80 req/s per replica is 2; 16 jobs × 50 req/s add 800 req/s → +10.
    assert at_quiet <= 3
    assert at_announce[1] >= at_quiet + 9
    assert "jobs=16" in at_announce[2] and "+800 req/s" in at_announce[2]


def test_a_cancelled_campaign_is_given_back_after_the_stabilisation_window() -> None:
    """16 jobs appear, their work never comes: the extra replicas last lag + grace, then
    the stabilisation window, then the fleet is back where it was."""
    p = params(load_per_unit=50.0, lead_s=180.0)
    obs = quiet(0, 1800, 0.0) + quiet(1800, 7200, 16.0)
    decisions = run(obs, p)
    value = {t: v for t, v, _ in decisions}
    assert value[1815.0] >= 12
    due_back = 1800 + 180 + 60 + G.scale_down_stabilization_s + 30
    assert all(v <= 3 for t, v in value.items() if t >= due_back)
    assert value[1800 + 180 + 60 - 15] >= 12


def held_at(ready: int, jobs: float, rate: float) -> list[Observation]:
    """Half an hour of a steady ``rate`` on ``ready`` replicas with ``jobs`` counted."""
    return [dataclasses.replace(o, ready_replicas=ready) for o in quiet(0, 1800, jobs, rate)]


def test_a_replica_the_hpa_tolerance_would_keep_is_given_back_while_the_work_is_in_force() -> None:
    """875 req/s at 80 per replica is 10.94 → 11 replicas; the fleet the announcement
    ordered (with its headroom) is 12, and 10.94 is within the HPA's 10 % of 12, so the
    HPA would keep 12 for as long as the campaign sends. The answer is moved just
    outside the tolerance, still needing 11: the HPA then asks for 11."""
    decisions = run(held_at(12, 16.0, 875.0), params(load_per_unit=50.0, lead_s=180.0))
    _, value, reason = decisions[-1]
    assert value == pytest.approx(10.79)
    assert math.ceil(value) == 11 and value / 12 < 0.9
    assert "gives back 1 replica(s)" in reason and "12 ready" in reason


def test_nothing_is_given_back_without_indicated_work_in_force() -> None:
    """No jobs counted: the fleet is not the indicator's doing, the answer is the
    wrapped policy's (the HPA's tolerance is then the pipeline's business)."""
    decisions = run(held_at(12, 0.0, 875.0), params(load_per_unit=50.0, lead_s=180.0))
    assert decisions[-1][1] == pytest.approx(875.0 / 80.0)
    assert "gives back" not in decisions[-1][2]


@pytest.mark.parametrize(
    ("value", "current", "expected"),
    [
        (10.94, 12, (10.79, 1)),  # 12 → 11
        (11.2, 12, None),  # needs 12: nothing kept
        (10.5, 12, None),  # outside the tolerance already: the HPA moves by itself
        (18.1, 20, None),  # the tolerance's edge (18) is below 19 − 1: no value gives 19
        (3.5, 4, None),  # within 10 % of 4 only from 3.6: outside already
        (0.95, 1, None),
    ],
)
def test_the_give_back_value(
    value: float, current: int, expected: tuple[float, int] | None
) -> None:
    from policies.leading import _give_back

    got = _give_back(value, current)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got[0] == pytest.approx(expected[0]) and got[1] == expected[1]


def test_jobs_leaving_the_count_stop_counting_at_once() -> None:
    p = params(load_per_unit=50.0, lead_s=240.0)
    obs = quiet(0, 1800, 0.0) + quiet(1800, 1860, 16.0) + quiet(1860, 4000, 0.0)
    decisions = run(obs, p)
    reasons = {t: r for t, _, r in decisions}
    assert "+800 req/s" in reasons[1845.0]
    assert "nothing new announced" in reasons[1875.0]


def test_learned_when_not_given_and_explained() -> None:
    history = campaign_history(hours=8.0)
    base = [
        dataclasses.replace(o, ready_replicas=20, queue_time_per_request_ms=5.0) for o in history
    ]
    last = base[-1].time_s
    again = [
        dataclasses.replace(o, time_s=last + 15 * (i + 1), indicators=(16.0,))
        for i, o in enumerate(base[-8:])
    ]
    decisions = run(base + again, params())
    _, _, reason = decisions[-1]
    assert "lead learned" in reason and "load learned" in reason
    assert "+" in reason.split("indicators:")[1]


def test_no_indicators_is_the_wrapped_policy() -> None:
    p = LEADING.params_model.model_validate(BASE)
    plain = PredictivePolicy().params_model.model_validate(BASE)
    obs = quiet(0, 900, 0.0)
    state_a, state_b = PipelineState(), PipelineState()
    for o in obs:
        a, state_a = decide(LEADING, p, G, o, state_a, o.time_s)
        b, state_b = decide(PredictivePolicy(), plain, G, o, state_b, o.time_s)
        assert a.value == b.value


def test_work_due_beyond_the_horizon_waits_until_it_is_within_it() -> None:
    """A 10-minute lead with a 5-minute horizon: nothing ordered for the first 5 minutes."""
    p = params(load_per_unit=50.0, lead_s=600.0)
    obs = quiet(0, 1800, 0.0) + quiet(1800, 2700, 16.0)
    value = {t: v for t, v, _ in run(obs, p)}
    assert value[1800 + 285.0] <= 3
    assert value[1800 + 315.0] >= 12


def test_the_what_if_keeps_items_per_execution() -> None:
    """Adding announced items must not make a replica look faster than it is."""
    from policies.leading import _same_batches

    o = Observation(time_s=0, ready_replicas=2, items_per_s=1000.0, execs_per_s=10.0)
    changes: dict[str, float] = {"items_per_s": 5000.0}
    _same_batches(o, changes)
    assert changes["execs_per_s"] == 50.0


def test_the_wrapped_policy_decides_the_same_with_the_pipelines_columns() -> None:
    """The wrapper cuts the pipeline's history columns for the wrapped policy (and
    its what-if) instead of rebuilding them: the decisions are those without columns."""
    from policies.adaptive import AdaptivePolicy

    leading = with_indicators(AdaptivePolicy())
    p = leading.params_model.model_validate(
        {
            "indicators": (IndicatorSettings("jobs", load_per_unit=50.0, lead_s=180.0),),
            "indicator_history_s": 7200.0,
        }
    )
    observations = [
        dataclasses.replace(
            o,
            items_per_s=o.request_rate_rps,
            execs_per_s=(o.request_rate_rps or 0.0) / 4,
            compute_time_per_request_ms=3.0,
            queue_time_per_request_ms=1.0,
        )
        for o in campaign_history(hours=2.0)
    ]
    with_cols, without = PipelineState(), PipelineState()
    for o in observations:
        d1, with_cols = decide(leading, p, G, o, with_cols, o.time_s)
        d2, without = decide(leading, p, G, o, dataclasses.replace(without, columns=None), o.time_s)
        assert (d1.value, d1.reason) == (d2.value, d2.reason)


def ramp(t0: float, jobs: list[float]) -> list[Observation]:
    """One observation per 15 s from ``t0`` with the given job counts."""
    return [quiet(t0 + 15 * i, t0 + 15 * i + 1, n)[0] for i, n in enumerate(jobs)]


def test_the_first_jobs_of_a_group_announce_the_whole_group() -> None:
    """A past campaign appeared as 16 jobs over two minutes; when the next one's first
    two jobs appear, a typical group's 16 are provisioned at once. A group that stops
    at 4 is given back to 4 once no more appear for indicatorGroupSeconds."""
    p = params(load_per_unit=50.0, lead_s=180.0)
    past = quiet(0, 600, 0.0) + ramp(600, [2, 4, 6, 8, 10, 12, 14, 16]) + quiet(720, 3600, 16.0)
    gap = quiet(3600, 7200, 0.0)
    first = ramp(7200, [2, 2, 4, 4])
    after = quiet(7260, 7500, 4.0)
    reasons = {t: r for t, _, r in run(past + gap + first + after, p)}
    assert "2 announced" not in reasons[7200.0]
    assert "16 announced (incl. 14 more of a group of 16)" in reasons[7200.0]
    assert "16 announced (incl. 12 more of a group of 16)" in reasons[7245.0]
    assert "4 announced ×" in reasons[7245.0 + 135.0]


def test_a_given_group_size_needs_no_history() -> None:
    p = params(load_per_unit=50.0, lead_s=180.0, group_size=8.0)
    reasons = {t: r for t, _, r in run(quiet(0, 600, 0.0) + ramp(600, [1, 3]), p)}
    assert "8 announced (incl. 7 more of a group of 8)" in reasons[600.0]


def test_arrived_work_is_counted_on_the_arrival_rate_not_on_stalled_completions() -> None:
    """A short fleet completes little of an arrived campaign: its item rate has barely
    risen while the arrival rate shows all of it. Nothing more is announced."""
    from policies.leading import Contribution

    c = Contribution(
        "jobs",
        16.0,
        16.0,
        {"activation_rps": 50.0, "items_per_s": 6400.0},
        180.0,
        "given",
        "activation_rps",
        arrived={"activation_rps": 16 * 50.0, "items_per_s": 10_000.0},
    )
    assert c.missing(1.0) == {"activation_rps": 0.0, "items_per_s": 0.0}
    assert c.missing(1.1)["items_per_s"] == pytest.approx(1.6 * 6400.0)


def test_jobs_that_never_send_are_discounted_until_due_and_given_back_when_they_leave() -> None:
    """23 jobs are counted, 7 of them fail while staging (they leave the count when
    due), so 16/23 of the announced jobs send: what is provisioned before they are due
    is 16 jobs' worth, not 23; once the ghosts leave the 16 still counted are
    confirmed, and 60 s of quiet rate after that the fleet comes down to them."""
    p = params(load_per_unit=50.0, lead_s=180.0, realised=16 / 23)
    obs = quiet(0, 1800, 0.0) + quiet(1800, 1980, 23.0) + quiet(1980, 3600, 16.0)
    decisions = {t: (v, r) for t, v, r in run(obs, p)}
    value, reason = decisions[1815.0]
    assert "23 announced × 0.7 that send" in reason
    assert "+800 req/s" in reason  # 16 × 50, not 23 × 50
    # 160 req/s + 16 × 50 × 1.1 at 80 req/s per replica: 13, not 23 × 50 × 1.1 → 18.
    assert 12 <= value <= 14
    _, reason = decisions[1995.0]
    assert "16 announced × 50 req/s" in reason  # confirmed: no discount


def test_the_share_that_sends_is_learned_from_the_history_when_lead_and_load_are_given() -> None:
    """A past campaign of 23 counted jobs of which 16 stayed past their lead: the next
    one's announced jobs are worth 16/23 each, with nothing but lead and load given."""
    p = params(load_per_unit=50.0, lead_s=180.0)
    past = quiet(0, 600, 0.0) + quiet(600, 780, 23.0) + quiet(780, 3600, 16.0)
    gap = quiet(3600, 7200, 0.0)
    nxt = quiet(7200, 7260, 23.0)
    reasons = {t: r for t, _, r in run(past + gap + nxt, p)}
    assert "23 announced × 0.7 that send" in reasons[7215.0]


def test_a_lead_shorter_than_the_provisioning_time_orders_a_drain_until_the_jobs_are_due() -> None:
    """Pods take 270 s to serve, the jobs send 180 s after they appear: their 800
    req/s queue for 90 s before the pods ordered at their rise serve. Until they are
    due, they are provisioned for (270 − 180) / 60 s = 1.5, at most 1, more: twice
    their load (the queue then drains in seconds, not in the fleet's margin); once
    due, the drain stops counting and only the announced load remains."""
    obs = quiet(0, 1800, 0.0) + quiet(1800, 2400, 16.0)
    plain = {t: (v, r) for t, v, r in run(obs, params(load_per_unit=50.0, lead_s=180.0))}
    p = params(load_per_unit=50.0, lead_s=180.0)
    with_drain = {
        t: (v, r)
        for t, v, r in run(obs, p.model_copy(update={"indicator_provision_seconds": 270.0}))  # type: ignore[attr-defined]
    }
    # 160 + 800 × 1.1 (the headroom) req/s at 80 per replica: 13; the drain adds 800: 23.
    assert plain[1815.0][0] == pytest.approx(13.0, abs=0.5)
    assert with_drain[1815.0][0] == pytest.approx(23.0, abs=0.5)
    assert "16 units' worth to drain the queue" in with_drain[1815.0][1]
    # Due at 1980 s: no drain in the answer any more (the pipeline's stabilisation
    # window, not the policy, keeps what was ordered for a while).
    assert "to drain the queue" not in with_drain[1995.0][1]


def test_no_drain_when_the_lead_covers_the_provisioning_time_or_it_is_not_known() -> None:
    """Lead 180 s: pods serving 150 s after the jobs appear are in time; 230 s leaves
    a queue of 50 s, which the fleet's margin drains; predictive has no
    leadTimeSeconds, so without indicatorProvisionSeconds nothing is known."""
    obs = quiet(0, 1800, 0.0) + quiet(1800, 2100, 16.0)
    p = params(load_per_unit=50.0, lead_s=180.0)
    plain = run(obs, p)
    covered = run(obs, p.model_copy(update={"indicator_provision_seconds": 150.0}))  # type: ignore[attr-defined]
    # 50 s of queue, less than indicatorDrainSeconds (60): left to the fleet's margin.
    short = run(obs, p.model_copy(update={"indicator_provision_seconds": 230.0}))  # type: ignore[attr-defined]
    assert [v for _, v, _ in covered] == [v for _, v, _ in plain]
    assert [v for _, v, _ in short] == [v for _, v, _ in plain]
    assert all("to drain" not in r for _, _, r in plain + covered + short)


def test_a_cancelled_campaign_gives_the_drain_back_with_the_announced_load() -> None:
    """The jobs appear and leave before they are due: the drain goes with them."""
    p = params(load_per_unit=50.0, lead_s=180.0).model_copy(  # type: ignore[attr-defined]
        update={"indicator_provision_seconds": 270.0}
    )
    obs = quiet(0, 1800, 0.0) + quiet(1800, 1890, 16.0) + quiet(1890, 3000, 0.0)
    value = {t: v for t, v, _ in run(obs, p)}
    assert value[1815.0] >= 20
    assert all(v <= 3 for t, v in value.items() if t >= 1890 + G.scale_down_stabilization_s + 30)


def test_the_drain_keys_are_metadata() -> None:
    p = LEADING.params_model.model_validate(
        BASE | {"indicatorProvisionSeconds": "265", "indicatorDrainSeconds": "30"}
    )
    assert p.indicator_provision_seconds == 265.0  # type: ignore[attr-defined]
    assert p.indicator_drain_seconds == 30.0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="indicatorDrainSeconds"):
        LEADING.params_model.model_validate(BASE | {"indicatorDrainSeconds": "0"})


def test_the_drain_stops_once_the_load_starts_to_arrive() -> None:
    """From the first unit's worth of arrivals on, the wrapped policy sees the queue
    and drains it itself: the drain would be ordered twice."""
    p = params(load_per_unit=50.0, lead_s=180.0).model_copy(  # type: ignore[attr-defined]
        update={"indicator_provision_seconds": 270.0}
    )
    obs = quiet(0, 1800, 0.0) + quiet(1800, 1920, 16.0) + quiet(1920, 2100, 16.0, rate=260.0)
    reasons = {t: r for t, _, r in run(obs, p)}
    assert "to drain the queue" in reasons[1905.0]
    assert all("to drain" not in r for t, r in reasons.items() if t >= 1935.0)
