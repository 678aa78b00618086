"""Adaptive policy: sizes for the arriving work at the capacity Triton's counters show,
with SLO headroom, a held peak and a queue reaction that does not compound."""

from __future__ import annotations

from typing import Any

import pytest

from policies import Observation, PolicyContext, Recommendation
from policies.adaptive import AdaptiveParams, AdaptivePolicy
from policies.work import learned_capacity, work_history
from scaler.metadata import parse_metadata
from scaler.registry import get_policy
from tests.policies import obs

POLICY = AdaptivePolicy()
P = AdaptiveParams()
FULL_BATCH_MS = 0.5 + 0.092 * 128
"""The simulator's default batch-128 execution: ≈ 10,427 items/s per replica."""
CAPACITY = 128 / (FULL_BATCH_MS / 1000)


def busy(t: float, ready: int, items_s: float, **extra: Any) -> Observation:
    """A fleet serving ``items_s`` items/s in batch-128 requests, counters as Triton's."""
    signals: dict[str, Any] = {
        "request_rate_rps": items_s / 128,
        "activation_rps": items_s / 128,
        "items_per_s": items_s,
        "execs_per_s": items_s / 128,
        "compute_time_per_request_ms": FULL_BATCH_MS,
        "queue_time_per_request_ms": 2.0,
        "pending_requests": 0.0,
    }
    signals.update(extra)
    return obs(t, ready, **signals)


def recommend(history: list[Observation], params: AdaptiveParams = P) -> float:
    return recommendation(history, params).replicas


def recommendation(history: list[Observation], params: AdaptiveParams = P) -> Recommendation:
    o = history[-1]
    ctx = PolicyContext(
        now_s=o.time_s,
        observation=o,
        history=tuple(history),
        current_replicas=o.ready_replicas,
        min_replicas=0,
        max_replicas=1000,
    )
    return POLICY.recommend(ctx, params)


def test_sizes_the_fleet_from_work_and_the_capacity_it_learned() -> None:
    history = [busy(5.0 * i, 10, 50_000) for i in range(120)]
    spare = 4.6052 * FULL_BATCH_MS / (100 - FULL_BATCH_MS)
    assert recommend(history) == pytest.approx(50_000 / CAPACITY + spare, rel=0.01)


def test_a_fleet_handed_over_is_kept_until_the_history_covers_the_hold() -> None:
    """A restarted scaler (or a simulation started warm) does not know yet what the
    fleet was sized for: it keeps it unless the queue says short."""
    history = [busy(5.0 * i, 10, 50_000) for i in range(50)]
    assert recommend(history) == 10
    short = [busy(5.0 * i, 2, 50_000, queue_time_per_request_ms=100.0) for i in range(50)]
    assert recommend(short) > 2


def light(t: float, ready: int, items_s: float) -> Observation:
    """One-item requests at light load: the batcher gathers ``items_s`` × 2 ms items per
    execution, and each request reports its batch's time (the simulator's law)."""
    per_replica = items_s / ready
    batch = max(per_replica * 0.002, 1.0)
    return busy(
        t,
        ready,
        items_s,
        request_rate_rps=items_s,
        activation_rps=items_s,
        execs_per_s=items_s / batch,
        compute_time_per_request_ms=0.5 + 0.092 * batch,
    )


def test_capacity_at_light_load_is_read_off_the_service_law_not_the_small_batches() -> None:
    """Replicas loaded lightly run small batches (here 4-8 items), whose items per
    execution time read about half of what the replica does when load fills its
    batches. After 15 min of such samples the line through them gives the capacity
    where an execution takes a quarter of the target, never above the law's limit."""
    history = [light(5.0 * i, 20, 40_000 + 20_000 * ((i // 6) % 3)) for i in range(240)]
    h = work_history(tuple(history), 1)
    direct = learned_capacity(h, history[-1].time_s, 3_600)
    fitted = learned_capacity(h, history[-1].time_s, 3_600, P.target_ms)
    assert direct is not None and fitted is not None
    assert direct.items_s < 0.65 * CAPACITY
    assert fitted.fitted
    assert 0.95 * CAPACITY <= fitted.items_s <= 1000 / 0.092
    assert fitted.service_ms == pytest.approx(P.target_ms / 4, rel=0.01)


def test_batches_at_the_models_maximum_are_not_extrapolated_beyond_it() -> None:
    """LIGO's online frames fill every execution to the model's 128 items; a burst of
    mixed requests adds a few smaller batches with their own times. The line through
    them is no law of batches growing with load: capacity stays what a full batch does
    (the extrapolation read 50,000 items/s and left announced campaigns short)."""
    history = []
    for i in range(240):
        b = 128 if i % 2 == 0 else 60 + i % 60
        odd = {
            "execs_per_s": 3_000 / b,
            "compute_time_per_request_ms": FULL_BATCH_MS - 0.02 * (128 - b),
        }
        history.append(busy(5.0 * i, 2, 3_000, **odd))
    h = work_history(tuple(history), 1)
    cap = learned_capacity(h, history[-1].time_s, 3_600, P.target_ms)
    assert cap is not None
    assert cap.items_s <= 1.05 * CAPACITY


def busy_time_law(
    ready: int,
    most: float,
    per_item_ms: float,
    *,
    least: float = 2.0,
    base_ms: float = 1.1,
    noise_ms: float = 0.0,
    execs_s: float = 1_000.0,
    reported_per_item_ms: float = 0.092,
) -> list[Observation]:
    """20 min of one-item requests in batches of ``least`` to ``most`` items
    (``execs_s`` executions a second), each request reporting ``0.5 +
    reported_per_item_ms × items`` as its compute time, while the GPU busy time per
    execution (what the service law is fitted to) reads ``base_ms + per_item_ms ×
    items`` ms, ``noise_ms`` scattered around it."""
    history = []
    for i in range(240):
        batch = least + (most - least) * ((i * 7) % 10) / 9
        items_s = execs_s * batch
        noise = noise_ms * (1 if (i * 13) % 3 == 0 else -0.5)
        exec_ms = base_ms + per_item_ms * batch + noise
        history.append(
            busy(
                5.0 * i,
                ready,
                items_s,
                request_rate_rps=items_s,
                activation_rps=items_s,
                execs_per_s=execs_s,
                compute_time_per_request_ms=0.5 + reported_per_item_ms * batch,
                gpu_utilization=execs_s / ready * exec_ms / 1000,
            )
        )
    return history


def test_a_slope_its_scatter_cannot_pin_down_is_not_extrapolated() -> None:
    """Batches of 2-15 items whose busy times scatter around the law as much as the law
    rises over them: read where load would grow the batches (an execution of a quarter
    of the target), a line this uncertain gives three times what a replica does. The
    capacity stays the direct reading, which errs low (more GPUs, not fewer)."""
    history = busy_time_law(4, 15.0, 0.028, noise_ms=1.2)
    h = work_history(tuple(history), 1)
    cap = learned_capacity(h, history[-1].time_s, 3_600, P.target_ms)
    direct = learned_capacity(h, history[-1].time_s, 3_600)
    assert cap is not None and direct is not None
    assert not cap.fitted and cap.batches_vary
    assert cap.items_s == direct.items_s < CAPACITY


def test_the_capacity_at_a_batch_the_samples_ran_is_what_they_measured_not_the_line() -> None:
    """A line drawn through small batches whose busy time reads the per-item cost low
    (0.026 ms for 0.092, as a one-second busy gauge over a 30 s execution rate did on
    a conversation trace's warm fleet) read 29,000 items/s at 128 items once a queue
    filled the batches, and cut the fleet from 14 to 11 under work needing 15-17.
    Rows that ran full batches measured 10,427 items/s: that is the capacity there."""
    history = busy_time_law(12, 14.0, 0.026)
    full = [
        busy(1_200 + 5.0 * i, 2, 40_000, queue_time_per_request_ms=2_000.0, gpu_utilization=1.0)
        for i in range(4)
    ]
    cap = learned_capacity(work_history(tuple(history + full), 1), 1_215, 3_600, P.target_ms)
    assert cap is not None and cap.fitted
    assert cap.items_s == pytest.approx(CAPACITY, rel=0.02)


def test_capacity_does_not_shrink_when_the_fleet_grows() -> None:
    """A 3x larger fleet with the same work sees smaller batches at low load; the
    capacity it learns stays at least what the loaded samples showed (no ratchet)."""
    loaded = [busy(5.0 * i, 6, 50_000) for i in range(120)]
    small_batches = [
        busy(600 + 5.0 * i, 18, 50_000, execs_per_s=50_000 / 32, compute_time_per_request_ms=3.4)
        for i in range(120)
    ]
    h = work_history(tuple(loaded + small_batches), 1)
    cap = learned_capacity(h, small_batches[-1].time_s, 3_600, P.target_ms)
    assert cap is not None and cap.items_s >= CAPACITY
    assert recommend(loaded + small_batches) < 18


def test_a_peak_is_held_for_the_hold_window_then_released() -> None:
    p = AdaptiveParams(peak_hold_seconds=300, lead_time_seconds=60)
    peak = [busy(5.0 * i, 10, 100_000) for i in range(12)]
    quiet = [busy(60 + 5.0 * i, 10, 20_000) for i in range(100)]
    during = recommend(peak + quiet[:50], p)
    after = recommend(peak + quiet, p)
    assert during >= 100_000 / CAPACITY
    assert after < 20_000 / CAPACITY + 1.5


def test_wakes_from_zero_to_what_the_arriving_rate_needs() -> None:
    history = [busy(5.0 * i, 10, 50_000) for i in range(20)]
    idle = [obs(100 + 5.0 * i, 0, activation_rps=0.0) for i in range(100)]
    waking = obs(600, 0, activation_rps=80_000 / 128)
    got = recommend(history + idle + [waking])
    assert got >= 80_000 / CAPACITY
    asleep = recommend(history + idle)
    assert asleep == 0.0


def test_a_wake_counter_that_rests_at_zero_while_the_fleet_serves_is_not_read_as_no_load() -> None:
    """Envoy's none_healthy counter (the examples' activationMetric) moves only at zero
    endpoints: with replicas serving it reads 0, and the work comes from completions."""
    front_all = [busy(5.0 * i, 10, 50_000) for i in range(60)]
    front_zero = [busy(5.0 * i, 10, 50_000, activation_rps=0.0) for i in range(60)]
    assert recommend(front_zero) == pytest.approx(recommend(front_all), rel=0.01)
    assert recommend(front_zero) > 4


def test_a_queue_on_a_settled_fleet_asks_for_more() -> None:
    """Bursts inside a scrape that the rate cannot show: queue at twice its share of
    the target on 2 settled replicas asks for 4."""
    history = [busy(5.0 * i, 2, 1_536, queue_time_per_request_ms=100.0) for i in range(30)]
    assert recommend(history) == pytest.approx(4.0)


def test_after_a_campaign_the_fleet_returns_to_what_the_queue_showed_before() -> None:
    """Online frames needed 2 replicas though their rate fits in 1; 2 h of campaign
    later the policy still knows, instead of dropping to 1 and queueing again."""
    online = [busy(5.0 * i, 2, 1_536, queue_time_per_request_ms=37.0) for i in range(120)]
    campaign = [busy(600 + 5.0 * i, 11, 100_000) for i in range(1440)]
    after = [busy(7800 + 5.0 * i, 11, 1_536) for i in range(120)]
    assert recommend(online + campaign + after) == pytest.approx(2 * 37 / 50, rel=0.01)


def test_the_queue_reaction_does_not_compound_while_pods_start() -> None:
    """A queue measured while ordered pods are still starting (or just after the
    fleet changed) is not multiplied again by the growing ready count."""
    settled = [busy(5.0 * i, 2, 20_000) for i in range(30)]
    step = [
        busy(150 + 5.0 * i, 2 + i, 100_000, queue_time_per_request_ms=5_000.0, desired_replicas=12)
        for i in range(10)
    ]
    got = recommend(settled + step)
    # What the work needs, its spare, and what drains the backlog (5 s of work) in 30 s:
    # the ready count (up to 11) times the queue ratio would ask for 44.
    drain = 5.0 * 100_000 / (CAPACITY * 30)
    assert got <= 100_000 / CAPACITY + 2 + drain


def test_registered_and_configured_by_metadata_keys() -> None:
    assert get_policy("adaptive").name == "adaptive"
    cfg = parse_metadata(
        "so",
        "ns",
        {
            "policy": "adaptive",
            "targetMs": "250",
            "leadTimeSeconds": "300",
            "peakHoldSeconds": "600",
            "capacityWindowSeconds": "7200",
            "instancesPerReplica": "6",
            "activationRps": "1",
        },
    )
    assert cfg.params == AdaptiveParams(
        target_ms=250,
        lead_time_seconds=300,
        peak_hold_seconds=600,
        capacity_window_seconds=7200,
        instances_per_replica=6,
        activation_rps=1,
    )


def test_work_that_jumps_between_rate_windows_gets_spare_for_its_seconds() -> None:
    """30 s rates alternating 40k/60k items/s mean single seconds far above 60k: the
    spare covers their 99th percentile, up to the highest work of the 30 min the
    noise is measured over."""
    steady = [busy(15.0 * i, 10, 60_000) for i in range(120)]
    noisy = [busy(15.0 * i, 10, 40_000 if i % 4 < 2 else 60_000) for i in range(120)]
    assert recommend(noisy) > recommend(steady) + 1
    assert recommend(noisy) == pytest.approx(2 * 60_000 / CAPACITY, rel=0.01)


def test_a_load_that_eases_keeps_the_noise_spare_its_seconds_showed() -> None:
    """Single seconds of a noisy load do not shrink with its 30 s rate: after an hour
    at 60k items/s (30 s rates swinging by half of it) and 10 minutes at 40k, the spare
    still covers up to 60k of noise, not only the 40k now held."""
    early = [busy(15.0 * i, 10, 45_000 if i % 4 < 2 else 60_000) for i in range(240)]
    late = [busy(3_600 + 15.0 * i, 10, 30_000 if i % 4 < 2 else 40_000) for i in range(40)]
    assert recommend(early + late) > 2 * 40_000 / CAPACITY + 1


def test_on_off_work_holds_its_burst_level_through_gaps_without_a_noise_spare() -> None:
    """Where rate windows are often empty (bursts, and gaps between them longer than the
    hold), the highest work of the 30 min the noise is measured over is held through
    the gaps, with the SLO's spare: the rates' noise there is the switching between
    bursts and silence, which that level already provisions, so no noise spare goes on
    top of it. Continuous noisy work keeps the noise spare."""
    spare = 4.6052 * FULL_BATCH_MS / (100 - FULL_BATCH_MS)
    on_off = [busy(15.0 * i, 10, 0.0 if i % 4 < 2 else 60_000) for i in range(120)]
    busy_always = [busy(15.0 * i, 10, 1_000 if i % 4 < 2 else 60_000) for i in range(120)]
    assert recommend(on_off) == pytest.approx(60_000 / CAPACITY + spare, rel=0.01)
    assert recommend(busy_always) == pytest.approx(2 * 60_000 / CAPACITY, rel=0.01)
    # Ten minutes of smaller bursts, longer than the 5 min hold: the level the bursts
    # reached is kept, where the hold alone would fall to the small bursts' need.
    lull = on_off + [busy(1_800 + 15.0 * i, 10, 0.0 if i % 4 < 2 else 10_000) for i in range(40)]
    assert recommend(lull) == pytest.approx(60_000 / CAPACITY + spare, rel=0.01)
    # Once the big bursts are older than the 30 min window, the small ones set the level.
    later = lull + [busy(2_400 + 15.0 * i, 10, 0.0 if i % 4 < 2 else 10_000) for i in range(120)]
    assert recommend(later) == pytest.approx(10_000 / CAPACITY + spare, rel=0.01)


def test_a_backlog_behind_timeouts_is_drained_within_30_s() -> None:
    """An overload whose requests time out keeps the pending count small; the queue
    time says how much waits (Little's law), and the fleet asks for what clears it in
    30 s on top of the work, not what would take many minutes."""
    settled = [busy(5.0 * i, 12, 110_000) for i in range(60)]
    behind = [
        busy(300 + 5.0 * i, 12, 110_000, queue_time_per_request_ms=8_000.0, pending_requests=50.0)
        for i in range(3)
    ]
    backlog = 8.0 * 110_000
    assert recommend(settled + behind) >= 110_000 / CAPACITY + backlog / (CAPACITY * 30) - 0.01


def _online(t0: float, n: int, ready: int, items_s: float, q_ms: float) -> list[Observation]:
    return [busy(t0 + 5.0 * i, ready, items_s, queue_time_per_request_ms=q_ms) for i in range(n)]


LOCK_LOSS = AdaptiveParams(lead_time_seconds=240)
"""Dips are kept through for 8 start-ups: 32 min at 4 min per pod."""


def test_the_fleet_is_kept_through_a_short_dip_below_the_level_it_kept() -> None:
    """Online frames need 2 replicas for hours; a detector's lock loss takes a third
    of the work away for 20 min. Giving the second replica back would cost a start-up
    of queueing when the frames resume, so the fleet keeps sizing for the frames."""
    before = _online(0.0, 1_440, 2, 1_536, 37.0)
    dip = _online(7_200.0, 240, 2, 1_024, 20.0)
    assert recommend(before + dip, LOCK_LOSS) > 1.0
    assert recommend(before + dip, LOCK_LOSS) == pytest.approx(2 * 37 / 50, rel=0.01)


def test_a_drop_longer_than_the_dip_hold_is_given_back() -> None:
    """No ratchet: once the lower level has lasted 8 start-ups it is what the load is
    now, and the fleet follows it (the stabilisation window then holds it no longer)."""
    before = _online(0.0, 1_440, 2, 1_536, 37.0)
    dip = _online(7_200.0, 480, 2, 1_024, 20.0)
    assert recommend(before + dip, LOCK_LOSS) < 1.0


def test_the_end_of_a_peak_is_not_a_dip() -> None:
    """After a campaign the work returns to a level seen before it: no floor keeps the
    campaign's fleet (the queue memory sizes for the frames, 2 replicas at most)."""
    before = _online(0.0, 720, 2, 1_536, 37.0)
    campaign = [busy(3_600 + 5.0 * i, 11, 100_000) for i in range(1_440)]
    after = [busy(10_800 + 5.0 * i, 11, 1_536) for i in range(120)]
    assert recommend(before + campaign + after, LOCK_LOSS) <= 2.0


def test_the_service_law_is_fitted_per_execution_not_per_request() -> None:
    """Each request reports its batch's time, so the per-request mean weighs large
    batches by their items and a line through it reads the per-item cost high (here
    1.6x; 25-75 % on the Azure conversation trace). GPU busy time per execution
    weighs every execution once: the law and the capacity come out as they are."""
    history = busy_time_law(
        20,
        16.0,
        0.092,
        least=4.0,
        base_ms=0.5,
        execs_s=2_000.0,
        reported_per_item_ms=0.092 * 1.6,
    )
    h = work_history(tuple(history), 1)
    cap = learned_capacity(h, history[-1].time_s, 3_600, P.target_ms)
    assert cap is not None and cap.fitted
    by_law = (P.target_ms / 4 - 0.5) / 0.092 / (P.target_ms / 4) * 1000
    assert cap.items_s == pytest.approx(by_law, rel=0.03)


def test_a_persistent_queue_on_a_fleet_just_short_asks_past_the_hpa_tolerance() -> None:
    """10 replicas for a need of 11: completions stop at capacity, so the work reads
    as just enough (10.7 replicas, inside the HPA's 10 % tolerance) while requests
    queue and time out. A queue over target for a minute on an unchanged fleet asks
    for more than 10 % more, even behind a backlog."""
    served = 10 * CAPACITY * 0.998
    fine = [busy(5.0 * i, 10, served) for i in range(60)]
    short = [
        busy(300 + 5.0 * i, 10, served, queue_time_per_request_ms=200.0, pending_requests=500.0)
        for i in range(14)
    ]
    assert recommend(fine) < 11
    assert recommend(fine + short) > 11


def test_a_queue_that_does_not_persist_asks_for_no_step() -> None:
    """One slow scrape in a minute is a burst, not a fleet short of the work."""
    served = 10 * CAPACITY * 0.9
    history = [busy(5.0 * i, 10, served) for i in range(60)]
    history += [
        busy(
            300 + 5.0 * i,
            10,
            served,
            queue_time_per_request_ms=200.0 if i == 5 else 2.0,
            pending_requests=500.0 if i == 5 else 0.0,
        )
        for i in range(14)
    ]
    assert recommend(history) < 11


def test_the_start_up_is_learned_from_the_ready_count_rising_after_the_work() -> None:
    """No desired count (the server sees it only at zero ready): a campaign's work
    needed 11 replicas 240 s before they were ready, so pods take about 4 min, and a
    20 min lock loss (longer than 8 × a configured 2 min lead) is kept through."""
    short_lead = AdaptiveParams(lead_time_seconds=120)
    online = _online(0.0, 1_440, 2, 1_536, 37.0)
    waiting = [
        busy(7_200 + 5.0 * i, 2, 100_000, queue_time_per_request_ms=9_000.0) for i in range(48)
    ]
    campaign = [busy(7_440 + 5.0 * i, 11, 100_000) for i in range(360)]
    after = _online(9_240.0, 1_440, 2, 1_536, 37.0)
    dip = _online(16_440.0, 240, 2, 1_024, 20.0)
    history = online + waiting + campaign + after + dip
    assert recommend(online + after[:720] + dip, short_lead) < 1.0
    assert recommend(history, short_lead) == pytest.approx(2 * 37 / 50, rel=0.01)


def test_work_that_stops_for_less_than_the_dip_hold_is_kept_through() -> None:
    """A stream that stops altogether (no requests at all) is a dip like any other."""
    before = _online(0.0, 1_440, 2, 1_536, 37.0)
    stopped = [
        obs(
            7_200.0 + 5.0 * i,
            2,
            request_rate_rps=0.0,
            activation_rps=0.0,
            items_per_s=0.0,
            execs_per_s=0.0,
            queue_time_per_request_ms=0.0,
            pending_requests=0.0,
        )
        for i in range(120)
    ]
    assert recommend(before + stopped, LOCK_LOSS) == pytest.approx(2 * 37 / 50, rel=0.01)


def test_a_backlog_drain_asks_for_at_most_the_fleet_again() -> None:
    """A pending count with no timeout behind it (a million requests) drains with
    twice the fleet, not with the hundreds of replicas a one-minute drain would take."""
    settled = [busy(5.0 * i, 12, 110_000) for i in range(60)]
    behind = [
        busy(300 + 5.0 * i, 12, 110_000, queue_time_per_request_ms=60_000.0, pending_requests=1e6)
        for i in range(3)
    ]
    rate_need = 110_000 / CAPACITY
    got = recommend(settled + behind)
    assert 2 * rate_need <= got <= 2 * rate_need + 2


def test_one_odd_scrape_does_not_hide_a_dip() -> None:
    """A single sample of no work hours ago is no level the work kept: the dip below
    the frames is still recognised (the raw minimum would have said 0)."""
    before = _online(0.0, 1_440, 2, 1_536, 37.0)
    odd = before[600]
    before[600] = busy(odd.time_s, 2, 0.0, queue_time_per_request_ms=0.0)
    dip = _online(7_200.0, 120, 2, 1_024, 20.0)
    assert recommend(before + dip, LOCK_LOSS) == pytest.approx(2 * 37 / 50, rel=0.01)


def test_a_steady_rise_is_sized_where_the_work_is_not_where_its_rate_trails() -> None:
    """A 30 s rate trails work rising steadily by half its window (15 s of the rise):
    at a 4 min start-up that is 15 s more of queueing for every pod ordered late.
    Work rising 1,000 items/s every second is sized 15,000 items/s above its rate."""
    flat = [busy(5.0 * i, 6, 20_000) for i in range(120)]
    ramp = [busy(600 + 5.0 * i, 6, 25_000 + 5_000 * i) for i in range(4)]
    spare = 4.6052 * FULL_BATCH_MS / (100 - FULL_BATCH_MS)
    assert recommend(flat + ramp) == pytest.approx((40_000 + 15_000) / CAPACITY + spare, rel=0.01)


def test_a_rise_that_stopped_or_jumps_back_and_forth_is_not_extrapolated() -> None:
    """Only a rise over every one of the last three scrapes counts: a step that has
    ended, or rates that go up and down, are sized at the highest rate held."""
    flat = [busy(5.0 * i, 6, 20_000) for i in range(120)]
    ended = [busy(600 + 5.0 * i, 6, min(25_000 + 5_000 * i, 35_000)) for i in range(6)]
    spare = 4.6052 * FULL_BATCH_MS / (100 - FULL_BATCH_MS)
    assert recommend(flat + ended) == pytest.approx(35_000 / CAPACITY + spare, rel=0.01)
    wobble = [busy(600 + 5.0 * i, 6, (30_000, 34_000, 32_000, 36_000)[i]) for i in range(4)]
    assert recommend(flat + wobble) < (36_000 + 5_000) / CAPACITY + 1.0


def _reason(history: list[Observation]) -> str:
    return recommendation(history).reason


def test_a_saturated_fleet_short_of_the_work_grows_before_the_history_covers_the_hold() -> None:
    """Started (or handed over) short of the work: with every GPU busy its batches are
    full, so the capacity it reads is a loaded replica's and it grows at once to what
    the work needs. Short only in some seconds (the busy gauge at 0.5-1), its capacity
    reading comes from small batches: it keeps to the queue's own evidence."""
    work = 50_000.0
    # 2 s of queue: 2 s of work waiting (in 128-item requests).
    queued = {"queue_time_per_request_ms": 2_000.0, "pending_requests": 2.0 * work / 128}
    saturated = [busy(5.0 * i, 2, work, gpu_utilization=1.0, **queued) for i in range(12)]
    spare = 4.6052 * FULL_BATCH_MS / (100 - FULL_BATCH_MS)
    assert recommend(saturated) == pytest.approx(work / CAPACITY + spare, rel=0.01)
    bursty = [
        busy(5.0 * i, 2, work, gpu_utilization=0.5 + (i % 2) / 2, **queued) for i in range(12)
    ]
    assert recommend(bursty) == 2


def test_rows_that_filled_every_batch_keep_their_capacity_when_lighter_rows_outnumber_them() -> (
    None
):
    """A minute of overload (full 128-item batches, queue far over target), then 50 min
    of light load whose small batches report times 25 % high per item (each request
    reports its batch's time): the service law through them reads a 128-item execution
    at 15.2 ms. The overloaded rows still say what a loaded replica does."""
    over = [busy(5.0 * i, 2, 40_000, queue_time_per_request_ms=2_000.0) for i in range(12)]
    lighter = []
    for i in range(600):
        items_s = 20_000 + 20_000 * ((i // 6) % 3)
        batch = items_s / 10 * 0.005
        lighter.append(
            busy(
                60 + 5.0 * i,
                10,
                items_s,
                request_rate_rps=items_s,
                activation_rps=items_s,
                execs_per_s=items_s / batch,
                compute_time_per_request_ms=0.5 + 0.115 * batch,
            )
        )
    assert f"÷ {CAPACITY:.0f} items/s per replica" in _reason(over + lighter)
    alone = _reason(lighter)
    assert f"÷ {CAPACITY:.0f} items/s per replica" not in alone
