"""The KEDA + HPA rules as keda-and-hpa.md states them."""

from __future__ import annotations

from scaler.sim.hpa import Autoscaler, Behavior, RatePolicy, ScalingRules


def _hpa(replicas: int, behavior: Behavior | None = None, **kw: object) -> Autoscaler:
    return Autoscaler(min_replicas=1, max_replicas=100, replicas=replicas, behavior=behavior, **kw)  # type: ignore[arg-type]


def test_a_change_within_ten_percent_is_ignored() -> None:
    hpa = _hpa(20)
    assert hpa.hpa_sync(15, 21.0, 1.0, 20) == 20
    assert hpa.hpa_sync(30, 23.0, 1.0, 20) == 23


def test_value_metric_scales_ready_pods_by_metric_over_target() -> None:
    hpa = _hpa(4, metric_type="Value")
    assert hpa.hpa_sync(15, 30.0, 20.0, 4) == 6
    hpa2 = _hpa(4, metric_type="Value")
    assert hpa2.hpa_sync(15, 21.0, 20.0, 4) == 4


def test_without_behavior_scale_up_is_capped_at_double_or_four() -> None:
    hpa = _hpa(1)
    assert hpa.hpa_sync(15, 50.0, 1.0, 1) == 4
    assert hpa.hpa_sync(30, 50.0, 1.0, 4) == 8


def test_without_behavior_scale_down_waits_for_the_highest_of_300_s() -> None:
    hpa = _hpa(10)
    assert hpa.hpa_sync(0, 10.0, 1.0, 10) == 10
    assert hpa.hpa_sync(15, 2.0, 1.0, 10) == 10
    assert hpa.hpa_sync(290, 2.0, 1.0, 10) == 10
    assert hpa.hpa_sync(301, 2.0, 1.0, 10) == 2


def test_behavior_pod_policy_adds_one_pod_per_period() -> None:
    one_per_15 = ScalingRules(0.0, (RatePolicy("Pods", 1, 15.0),))
    hpa = _hpa(2, Behavior(scale_up=one_per_15))
    assert hpa.hpa_sync(15, 10.0, 1.0, 2) == 3
    assert hpa.hpa_sync(20, 10.0, 1.0, 3) == 3
    assert hpa.hpa_sync(31, 10.0, 1.0, 3) == 4


def test_behavior_scale_up_window_takes_the_lowest_recent_recommendation() -> None:
    rules = ScalingRules(60.0, (RatePolicy("Percent", 100, 15.0),))
    hpa = _hpa(2, Behavior(scale_up=rules))
    assert hpa.hpa_sync(0, 2.0, 1.0, 2) == 2
    assert hpa.hpa_sync(15, 8.0, 1.0, 2) == 2
    assert hpa.hpa_sync(61, 8.0, 1.0, 2) == 4


def test_behavior_defaults_scale_down_window_is_300_s() -> None:
    hpa = _hpa(8, Behavior())
    hpa.hpa_sync(0, 8.0, 1.0, 8)
    assert hpa.hpa_sync(100, 1.0, 1.0, 8) == 8
    assert hpa.hpa_sync(301, 1.0, 1.0, 8) == 1


def test_keda_scales_to_zero_only_after_cooldown_of_inactivity() -> None:
    hpa = Autoscaler(min_replicas=0, max_replicas=10, replicas=3, cooldown_s=300)
    assert hpa.keda_poll(0, True) == 3
    assert hpa.keda_poll(200, False) == 3
    assert hpa.keda_poll(300, False) == 0


def test_keda_activates_from_zero_to_at_least_one() -> None:
    hpa = Autoscaler(min_replicas=0, max_replicas=10, replicas=0)
    assert hpa.hpa_sync(15, 5.0, 1.0, 0) == 0
    assert hpa.keda_poll(30, True) == 1
    assert hpa.hpa_sync(45, 5.0, 1.0, 1) == 4


def test_idle_replica_count_zero_idles_above_the_minimum_and_wakes_to_it() -> None:
    """``idleReplicaCount: 0`` with ``minReplicaCount: 3``: inactive for the cooldown,
    KEDA scales to 0; active again, straight to 3 (not 1)."""
    hpa = Autoscaler(min_replicas=3, max_replicas=10, replicas=5, cooldown_s=300, idle_to_zero=True)
    assert hpa.keda_poll(0, True) == 5
    assert hpa.keda_poll(299, False) == 5
    assert hpa.keda_poll(300, False) == 0
    assert hpa.keda_poll(330, True) == 3


def test_no_scale_to_zero_within_the_initial_cooldown() -> None:
    hpa = Autoscaler(
        min_replicas=0, max_replicas=10, replicas=2, cooldown_s=60, initial_cooldown_s=600
    )
    assert hpa.keda_poll(300, False) == 2
    assert hpa.keda_poll(599, False) == 2
    assert hpa.keda_poll(600, False) == 0


def test_min_replica_count_above_zero_never_scales_to_zero() -> None:
    hpa = Autoscaler(min_replicas=2, max_replicas=10, replicas=2, cooldown_s=0)
    assert hpa.keda_poll(1000, False) == 2
    assert hpa.hpa_sync(1015, 0.0, 1.0, 2) == 2
