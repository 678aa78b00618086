"""Learning a leading indicator's lag and load per unit from synthetic history."""

from __future__ import annotations

import numpy as np
import pytest

from policies import Observation
from policies.indicators import (
    fit_indicator,
    in_force,
    learn_lag,
    learn_realised,
    primary_rate,
    rate_fields,
    window,
)

STEP = 15.0


def campaign_history(
    *,
    lag_s: float = 180.0,
    per_job: float = 50.0,
    jobs: int = 16,
    base_rps: float = 1536.0,
    noise_rps: float = 5.0,
    ghosts: int = 0,
    seed: int = 0,
    hours: float = 8.0,
) -> list[Observation]:
    """Observations every 15 s: ``jobs`` jobs appear between 1 h and 1 h + 60 s, each
    starts sending ``lag_s`` after it appears and stops (and leaves the count) 3 h
    later; ``ghosts`` more appear with them and leave when they should have started
    (failed while staging). A short burst of 4 jobs at 5 h does the same."""
    rng = np.random.default_rng(seed)
    appear = 3600 + rng.uniform(0, 60, jobs)
    stop = appear + lag_s + 3 * 3600
    ghost_appear = 3600 + rng.uniform(0, 60, ghosts)
    burst = 5 * 3600 + rng.uniform(0, 30, 4)
    out = []
    for t in np.arange(0, hours * 3600, STEP):
        counted = np.sum((appear <= t) & (t < stop)) + np.sum(
            (ghost_appear <= t) & (t < ghost_appear + lag_s)
        )
        counted += np.sum((burst <= t) & (t < burst + lag_s + 600))
        sending = np.sum((appear + lag_s <= t) & (t < stop))
        sending += np.sum((burst + lag_s <= t) & (t < burst + lag_s + 600))
        rate = base_rps + per_job * sending + rng.normal(0, noise_rps)
        out.append(
            Observation(
                time_s=float(t),
                ready_replicas=4,
                request_rate_rps=rate,
                activation_rps=rate,
                indicators=(float(counted),),
            )
        )
    return out


def test_lag_and_load_per_unit_are_learned_from_a_campaign() -> None:
    history = campaign_history()
    fit = fit_indicator(
        history,
        0,
        rate_fields(history[-1]),
        "activation_rps",
        step_s=STEP,
        max_lag_s=1800,
        smooth_s=60,
    )
    assert fit is not None
    assert abs(fit.lag_s - 180) <= 30
    assert abs(fit.per_unit["activation_rps"] - 50) / 50 < 0.1
    assert fit.lag_correlation > 0.5
    assert fit.load_correlation > 0.9


def test_a_different_lag_is_found() -> None:
    history = campaign_history(lag_s=600.0, per_job=20.0)
    fit = fit_indicator(
        history, 0, ("activation_rps",), "activation_rps", step_s=STEP, max_lag_s=1800, smooth_s=60
    )
    assert fit is not None
    assert abs(fit.lag_s - 600) <= 30
    assert abs(fit.per_unit["activation_rps"] - 20) / 20 < 0.1


def test_jobs_that_never_send_lower_the_load_per_unit_only_while_counted() -> None:
    """Ghost jobs leave the count when due, so the units in force are the real jobs."""
    history = campaign_history(ghosts=5)
    fit = fit_indicator(
        history, 0, ("activation_rps",), "activation_rps", step_s=STEP, max_lag_s=1800, smooth_s=60
    )
    assert fit is not None
    assert abs(fit.per_unit["activation_rps"] - 50) / 50 < 0.15


def test_the_share_of_counted_jobs_that_send_is_learned() -> None:
    """16 jobs send, 7 more are counted and leave when due, and a burst's 4 jobs all
    send: 20 of 27 send. Without ghosts every counted job sends."""
    for ghosts, share in ((7, 20 / 27), (0, 1.0)):
        fit = fit_indicator(
            campaign_history(ghosts=ghosts),
            0,
            ("activation_rps",),
            "activation_rps",
            step_s=STEP,
            max_lag_s=1800,
            smooth_s=60,
            settle_s=60,
        )
        assert fit is not None
        assert abs(fit.realised - share) < 0.05, (ghosts, fit.realised)


def test_the_share_that_sends_judges_only_units_whose_lag_has_passed() -> None:
    """Jobs that appeared less than a lag (plus the settling time) ago are not yet
    judged: a campaign still staging does not read as jobs that never send."""
    ind = np.array([0.0] * 10 + [10.0] * 10)
    assert learn_realised(ind, lag_steps=12, settle_steps=0) is None
    assert learn_realised(ind, lag_steps=4, settle_steps=2) == 1.0
    ghosts = np.array([0.0] * 10 + [10.0] * 4 + [6.0] * 10)
    assert learn_realised(ghosts, lag_steps=4, settle_steps=2) == pytest.approx(0.6)


def test_a_pure_noise_indicator_shows_no_evidence() -> None:
    history = campaign_history()
    rng = np.random.default_rng(1)
    noise = np.cumsum(rng.choice([-1.0, 0.0, 1.0], size=len(history))).clip(0)
    noisy = [
        Observation(
            time_s=o.time_s,
            ready_replicas=o.ready_replicas,
            request_rate_rps=o.request_rate_rps,
            activation_rps=o.activation_rps,
            indicators=(float(n),),
        )
        for o, n in zip(history, noise, strict=True)
    ]
    fit = fit_indicator(
        noisy, 0, ("activation_rps",), "activation_rps", step_s=STEP, max_lag_s=1800, smooth_s=60
    )
    assert fit is None or min(fit.lag_correlation, fit.load_correlation) < 0.3


def test_lag_by_cross_correlation_of_rises() -> None:
    x = np.zeros(400)
    x[100:] = 10.0
    y = np.zeros(400)
    y[112:] = 500.0
    lag, r = learn_lag(x, y, step_s=15.0, max_lag_s=900, smooth_s=15)
    assert lag == 12 * 15.0
    assert r > 0.99


def test_units_in_force_are_those_announced_a_lag_ago_and_still_counted() -> None:
    ind = np.array([0, 5, 5, 5, 0, 0], dtype=float)
    got = in_force(ind, 2)
    assert np.isnan(got[:2]).all()
    assert got[2:].tolist() == [0.0, 5.0, 0.0, 0.0]


def test_window_bisects_history() -> None:
    history = [Observation(time_s=float(t), ready_replicas=1) for t in range(0, 100, 10)]
    got = window(history, 25, 60)
    assert [o.time_s for o in got] == [30.0, 40.0, 50.0, 60.0]


def test_observation_flattens_indicators_for_the_record() -> None:
    o = Observation(time_s=0, ready_replicas=1, indicators=(3.0, None))
    record = o.as_dict()
    assert record["indicator1"] == 3.0
    assert record["indicator2"] is None
    assert "indicators" not in record
    assert o.indicator(0) == 3.0
    assert o.indicator(1) is None
    assert o.indicator(5) is None


def test_the_front_rate_is_learnt_from_only_when_it_counts_arrivals() -> None:
    def o(t: float, ready: int, served: float | None, front: float | None) -> Observation:
        return Observation(
            time_s=t, ready_replicas=ready, request_rate_rps=served, activation_rps=front
        )

    arrivals = [o(i, 3, 10.0, 12.0) for i in range(20)]
    assert primary_rate(arrivals) == "activation_rps"
    # Envoy's none_healthy counter: moves at zero endpoints, reads 0 while replicas serve.
    wake_only = [o(0, 0, None, 5.0)] + [o(i, 3, 10.0, 0.0) for i in range(1, 20)]
    assert primary_rate(wake_only) == "request_rate_rps"
    assert primary_rate([o(i, 3, 10.0, None) for i in range(20)]) == "request_rate_rps"
    # An arrivals counter that reads 0 as a load ends (the backlog still completing).
    ending = arrivals[:-1] + [o(20, 3, 4.0, 0.0)]
    assert primary_rate(ending) == "activation_rps"


def test_groups_of_rises_and_their_typical_size() -> None:
    from policies.indicators import groups, typical_group

    t = [0.0, 15, 30, 45, 60, 400, 415, 430, 2000, 2015]
    v = [0.0, 3, 5, 5, 8, 8, 10, 12, 12, 1]
    found = groups(t, v, gap_s=120.0)
    assert [(g.start_s, g.last_s, g.size) for g in found] == [(15, 60, 8), (415, 430, 4)]
    assert typical_group(found) == 6.0
    assert typical_group([]) is None
