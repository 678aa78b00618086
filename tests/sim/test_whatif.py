"""What-if results say what ran: each run's ScaledObject (name, trigger metadata) and
the KEDA/HPA/scaler timers of the scenario it ran in."""

from __future__ import annotations

from scaler.sim.whatif import WhatIfOptions, build_scenario, timers, what_if
from tests.sim._util import step

CURRENT = {"policy": "threshold", "targetMs": "50", "maxReplicas": "8"}
CANDIDATE = {"policy": "threshold", "targetMs": "20", "maxReplicas": "8", "minReplicas": "1"}


def test_each_result_names_the_scaledobject_and_the_timers_it_ran() -> None:
    slow_keda = WhatIfOptions(scenario={"scaledObject": {"pollingInterval": 60}})
    current = build_scenario(CURRENT, slow_keda, name="triton")
    candidate = build_scenario(CANDIDATE, WhatIfOptions(), name="triton-candidate")
    result = what_if(step(20.0, 200.0, 600, 200), current, candidate)
    assert result["current"]["scaled_object"] == {"name": "triton", "metadata": CURRENT}
    assert result["candidate"]["scaled_object"] == {
        "name": "triton-candidate",
        "metadata": CANDIDATE,
    }
    assert result["current"]["timers"]["keda_polling_interval_s"] == 60
    assert result["candidate"]["timers"] == {
        "keda_polling_interval_s": 30,
        "keda_cooldown_period_s": 300,
        "hpa_sync_period_s": 15,
        "hpa_tolerance": 0.1,
        "scaler_refresh_interval_s": 5,
    }
    assert result["candidate"]["timers"] == timers(candidate)


def test_a_scenario_without_a_name_keeps_its_own() -> None:
    named = build_scenario(CURRENT, WhatIfOptions(scenario={"scaledObject": {"name": "so"}}))
    assert named.scaledObject.name == "so"
    assert build_scenario(CURRENT, WhatIfOptions()).scaledObject.name == "scenario"


def test_secret_values_are_not_in_the_result() -> None:
    secret = {**CURRENT, "bearerTokenFromEnv": "s3cr3t"}
    scenario = build_scenario(secret, WhatIfOptions(), name="triton")
    result = what_if(step(20.0, 40.0, 120, 60), scenario, scenario)
    assert "s3cr3t" not in str(result)
    assert result["current"]["scaled_object"]["metadata"]["bearerTokenFromEnv"] == "<redacted>"
