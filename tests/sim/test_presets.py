"""Presets mean what they say."""

from __future__ import annotations

import math

import pytest

from scaler.sim.engine import simulate
from scaler.sim.hpa import Autoscaler, Behavior, RatePolicy, ScalingRules
from scaler.sim.presets import PRESET_NAMES, PRESETS, preset_scaled_object, scenario_for
from tests.sim._util import scenario, step


@pytest.mark.parametrize(("ready", "metric"), [(2, 45.0), (3, 10.0), (5, 21.0), (4, 17.0)])
def test_supersonic_hpa_asks_ceil_ready_times_metric_over_threshold(
    ready: int, metric: float
) -> None:
    so = preset_scaled_object("supersonic")
    threshold = float(so.trigger.metadata["targetMs"])
    unlimited = ScalingRules(0.0, (RatePolicy("Percent", 1000, 15.0),))
    hpa = Autoscaler(
        min_replicas=1,
        max_replicas=1000,
        replicas=ready,
        behavior=Behavior(scale_up=unlimited, scale_down=unlimited),
        metric_type="Value",
    )
    got = hpa.hpa_sync(0.0, metric, threshold, ready)
    ratio = metric / threshold
    expected = ready if abs(ratio - 1) <= 0.1 else math.ceil(ready * ratio)
    assert got == expected


def test_supersonic_presets_follow_the_chart_and_purdue_values() -> None:
    default = preset_scaled_object("supersonic-default")
    purdue = preset_scaled_object("supersonic-purdue")
    assert default.trigger.metricType == "Value"
    assert default.trigger.metadata["signal"] == "queue_time_per_exec_ms"
    assert default.trigger.metadata["targetMs"] == "100"
    assert (default.minReplicaCount, default.maxReplicaCount) == (1, 2)
    assert (default.pollingInterval, default.cooldownPeriod) == (30, 120)
    assert purdue.trigger.metadata["targetMs"] == "20"
    assert purdue.maxReplicaCount == 11


def test_supersonic_run_reports_the_metric_not_a_replica_count() -> None:
    trace = step(300, 3000, 600, 120, items=16)
    sc = scenario_for("supersonic", scenario(startup={"seconds": 20}))
    result = simulate(trace, sc, initial_replicas=1)
    assert result.desired.max() > 1
    assert result.scores.scale_events > 0


def test_static_preset_holds_its_size() -> None:
    trace = step(100, 2000, 300, 100, items=16)
    result = simulate(trace, scenario_for("static-peak", scenario(), static_replicas=4))
    assert result.desired.min() == result.desired.max() == 4
    assert result.scores.scale_events == 0


def test_every_preset_builds_a_valid_scenario() -> None:
    for name in PRESET_NAMES:
        scenario_for(name, scenario()).scaler_config()


def test_pid_is_retired_from_the_comparison_set_but_still_runs() -> None:
    """Issue 10 item 3: pid is not offered beside the recommended default any more;
    ScaledObjects that name it keep working."""
    from scaler.registry import available_policies

    assert "pid-defaults" not in PRESETS
    assert "adaptive-defaults" in PRESETS
    assert "pid" in available_policies()
    scenario_for("pid", scenario()).scaler_config()


def test_predictive_is_retired_from_the_comparison_set_but_runs_when_named() -> None:
    """Issue 10 item 3: on the Azure conversation trace at a 20-GPU peak, predictive went
    from 2 to 44 replicas in 2 minutes and changed size 23 times an hour; it is not
    offered beside the recommended default, and ScaledObjects naming it keep working."""
    from scaler.sim.presets import RETIRED_PRESETS, expand_names

    assert "predictive-defaults" in RETIRED_PRESETS
    assert "predictive-defaults" not in expand_names(["presets"])
    sc = scenario_for("predictive-defaults", scenario())
    assert sc.scaledObject.trigger.metadata["policy"] == "predictive"
    scenario_for("predictive", scenario()).scaler_config()


def test_no_preset_is_named_like_a_policy() -> None:
    from scaler.registry import available_policies

    assert not set(PRESET_NAMES) & set(available_policies())


def test_a_registered_policy_runs_the_scenarios_own_trigger_metadata() -> None:
    """The issue's case: a scenario asking for 70 req/s per replica, run with
    ``--policy threshold``, is not the GPU-utilisation preset."""
    base = scenario(
        scaledObject={
            "triggers": [
                {
                    "metadata": {
                        "policy": "threshold",
                        "signal": "rps_per_replica",
                        "target": "70",
                        "maxReplicas": "7",
                    }
                }
            ]
        }
    )
    sc = scenario_for("threshold", base)
    assert sc.scaledObject.trigger.metadata == base.scaledObject.trigger.metadata
    trace = step(100, 600, 600, 120, items=16)
    mine = simulate(trace, sc, initial_replicas=1)
    preset = simulate(trace, scenario_for("threshold-gpu70", base), initial_replicas=1)
    assert mine.scores != preset.scores
    assert mine.metadata["signal"] == "rps_per_replica"
    assert preset.scaled_object == "threshold-gpu70"


def test_switching_policy_keeps_the_common_keys() -> None:
    base = scenario(
        scaledObject={
            "triggers": [
                {"metadata": {"policy": "threshold", "targetMs": "30", "maxReplicas": "9"}}
            ]
        }
    )
    meta = scenario_for("pid", base).scaledObject.trigger.metadata
    assert meta == {"policy": "pid", "maxReplicas": "9"}


def test_switching_policy_drops_the_old_policys_keys_read_from_the_environment() -> None:
    """KEDA forwards ``<key>FromEnv`` resolved under its own name: adaptive's
    ``leadTimeSecondsFromEnv`` means nothing to threshold, a guardrail's or a
    credential's ``*FromEnv`` is kept."""
    base = scenario(
        scaledObject={
            "triggers": [
                {
                    "metadata": {
                        "policy": "adaptive",
                        "leadTimeSecondsFromEnv": "90",
                        "maxReplicasFromEnv": "9",
                        "releaseFromEnv": "cms",
                        "bearerTokenFromEnv": "TOKEN",
                    }
                }
            ]
        }
    )
    sc = scenario_for("threshold", base)
    assert sc.scaledObject.trigger.metadata == {
        "policy": "threshold",
        "maxReplicasFromEnv": "9",
        "releaseFromEnv": "cms",
        "bearerTokenFromEnv": "TOKEN",
    }
    assert sc.scaler_config().guardrails.max_replicas == 9
