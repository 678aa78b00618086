"""``scaler.tuning``: the budgeted search finds cheaper configurations that meet the SLO,
is deterministic for a seed, reports infeasibility and prints pasteable metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from policies import PidParams, ThresholdParams
from scaler.metadata import parse_metadata, resolve_env_references
from scaler.sim.oracle import compute_oracle
from scaler.sim.presets import recommended_scaled_object
from scaler.sim.scenario import Scenario, load_scenario
from scaler.traces.model import Trace
from scaler.tuning.compare import tune_and_compare
from scaler.tuning.run import TuneResult, make_problem, metadata_block, tune
from scaler.tuning.space import Choice, Numeric, SpaceError, build_space
from tests.sim.test_compare import rising_in_the_first_minute


def step_trace() -> Trace:
    """Twenty minutes: quiet, a step to four GPUs' worth of load, quiet again."""
    rps = np.concatenate([np.full(300, 8_000.0), np.full(600, 30_000.0), np.full(300, 8_000.0)])
    return Trace("step", rps)


def scenario(policy: str) -> Scenario:
    so = recommended_scaled_object({"policy": policy})
    return Scenario().model_copy(update={"scaledObject": so})


def run(budget: int = 10, seed: int = 0, target: float = 0.99) -> TuneResult:
    return tune(
        [step_trace()],
        "threshold",
        scenario=scenario("threshold"),
        target=target,
        budget=budget,
        seed=seed,
        workers=1,
        start={"policy": "threshold", "signal": "gpu_utilization", "target": "0.3"},
        fixed={"signal": "gpu_utilization"},
        ranges={"target": (0.2, 0.95)},
    )


@pytest.fixture(scope="module")
def result() -> TuneResult:
    return run()


def test_search_finds_a_feasible_point_cheaper_than_the_start(result: TuneResult) -> None:
    assert result.start.label == "start"
    assert result.start.feasible(0.99)
    assert result.feasible
    assert result.best.gpu_hours < result.start.gpu_hours
    assert len(result.trials) == 10


def test_same_seed_gives_the_same_trials(result: TuneResult) -> None:
    again = run()
    assert [t.metadata for t in again.trials] == [t.metadata for t in result.trials]
    assert [t.gpu_hours for t in again.trials] == [t.gpu_hours for t in result.trials]


def test_another_seed_explores_other_points(result: TuneResult) -> None:
    other = run(seed=7)
    assert [t.metadata for t in other.trials[1:]] != [t.metadata for t in result.trials[1:]]


def test_metadata_block_is_strings_that_the_scaler_parses(result: TuneResult) -> None:
    block = metadata_block(result.best.metadata)
    meta = yaml.safe_load(block)["metadata"]
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["policy"] == "threshold" and meta["signal"] == "gpu_utilization"
    cfg = parse_metadata("so", "ns", meta)
    assert isinstance(cfg.params, ThresholdParams)
    assert cfg.params.target == pytest.approx(float(meta["target"]))


def test_unreachable_target_is_reported_with_the_closest_shortfall() -> None:
    out = run(budget=4, target=1.5)
    assert not out.feasible
    best = out.best
    assert best.shortfall(1.5) == pytest.approx(1.5 - best.slo_attainment)
    assert best.slo_attainment == max(t.slo_attainment for t in out.trials)
    doc = out.as_dict()
    assert doc["feasible"] is False and doc["best"]["shortfall"] > 0
    assert len(doc["trials"]) == 4


def test_two_processes_give_the_same_answer_as_one() -> None:
    one = run(budget=6)
    two = tune(
        [step_trace()],
        "threshold",
        scenario=scenario("threshold"),
        budget=6,
        workers=2,
        start={"policy": "threshold", "signal": "gpu_utilization", "target": "0.3"},
        fixed={"signal": "gpu_utilization"},
        ranges={"target": (0.2, 0.95)},
    )
    assert [t.metadata for t in two.trials] == [t.metadata for t in one.trials]
    assert [t.gpu_hours for t in two.trials] == [t.gpu_hours for t in one.trials]


def test_space_reads_bounds_and_choices_from_the_params_model() -> None:
    space = build_space("pid", PidParams)
    dims = {d.key: d for d in space.dimensions}
    assert isinstance(dims["signal"], Choice)
    assert set(dims["signal"].options) == {"queue_time_per_request_ms", "queue_time_per_exec_ms"}
    kp = dims["kp"]
    assert isinstance(kp, Numeric) and kp.lo == 0 and kp.hi == 10
    target = dims["targetMs"]
    assert isinstance(target, Numeric) and target.lo > 0 and target.log
    assert "activationRps" not in dims
    assert "scaleDownStabilizationSeconds" in dims
    for u in (0.0, 0.37, 1.0):
        parse_metadata("so", "ns", space.decode([u] * len(space.dimensions)))


def test_start_point_decodes_to_the_start_metadata() -> None:
    start = {"policy": "pid", "targetMs": "40", "kp": "0.25", "maxReplicas": "12"}
    space = build_space("pid", PidParams, start=start)
    meta = space.decode(space.start_point())
    assert meta["targetMs"] == "40" and meta["kp"] == "0.25" and meta["maxReplicas"] == "12"


def test_out_of_bounds_range_is_refused_with_the_bounds() -> None:
    with pytest.raises(SpaceError, match=r"kp=0:20.*\[0, 10\]"):
        build_space("pid", PidParams, ranges={"kp": (0, 20)})
    with pytest.raises(SpaceError, match="nope"):
        build_space("pid", PidParams, ranges={"nope": (0, 1)})


def test_tune_and_compare_returns_the_best_metadata_trials_and_comparison() -> None:
    fractions: list[float] = []
    out = tune_and_compare(
        trace=step_trace(),
        metadata={"policy": "threshold", "signal": "gpu_utilization", "target": "0.3"},
        budget=4,
        progress=lambda f, _msg: fractions.append(f),
    )
    assert out["runs"] == 4 and len(out["trials"]) == 4
    assert out["trials"][0]["label"] == "start"
    parse_metadata("so", "ns", out["best"])
    assert {"current", "candidate", "oracle", "series"} <= set(out["comparison"])
    assert fractions and fractions[-1] == 1.0


def test_a_scenario_naming_another_policy_keeps_its_scope_and_guardrails() -> None:
    """``scaler tune --policy static --scenario`` of a threshold ScaledObject tunes
    static on that ScaledObject, as ``scaler simulate --policy static`` runs it: the
    trigger's scope and guardrail keys stay, threshold's own keys go."""
    meta = {
        "policy": "threshold",
        "signal": "gpu_utilization",
        "target": "0.5",
        "release": "supersonic",
        "model": "particlenet",
        "maxReplicas": "8",
        "staleAfterSeconds": "45",
        "scaleDownStabilizationSeconds": "200",
    }
    so = recommended_scaled_object(meta, max_replicas=8)
    sc = Scenario().model_copy(update={"scaledObject": so})
    result = tune(
        [Trace("flat", np.full(120, 8_000.0))],
        "static",
        scenario=sc,
        budget=2,
        workers=1,
        ranges={"replicas": (1, 8)},
        common={},
    )
    start = result.start.metadata
    kept = {k: v for k, v in meta.items() if k not in ("policy", "signal", "target")}
    assert {k: start[k] for k in kept} == kept
    assert start["policy"] == "static" and "signal" not in start and "target" not in start
    paste, _ = result.paste
    assert {k: paste[k] for k in kept} == kept


def test_a_deployment_fact_is_not_searched_unless_a_range_asks() -> None:
    """``instancesPerReplica`` is Triton's instance count, not a policy choice: a search
    that varies it answers for a deployment the user does not have. It is carried from
    the start metadata (default 1) and searched only under ``--range``."""
    from policies.adaptive import AdaptiveParams

    space = build_space("adaptive", AdaptiveParams, start={"instancesPerReplica": "2"})
    keys = {d.key for d in space.dimensions}
    assert "instancesPerReplica" not in keys and "targetMs" in keys
    assert space.decode(space.start_point())["instancesPerReplica"] == "2"
    ranged = build_space("adaptive", AdaptiveParams, ranges={"instancesPerReplica": (1, 4)})
    assert "instancesPerReplica" in {d.key for d in ranged.dimensions}


def test_tune_folds_keys_read_from_the_environment_and_pastes_their_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scaler tune --policy adaptive`` on a trigger with ``leadTimeSecondsFromEnv``
    searches ``leadTimeSeconds`` from the resolved value instead of failing with both
    keys set; the paste and the JSON name each variable whose value the search kept and
    never show a value read from the environment."""
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "scaledObject:\n  minReplicaCount: 1\n  triggers:\n    - metadata: {policy: adaptive,"
        " leadTimeSecondsFromEnv: LEAD, releaseFromEnv: REL, maxReplicasFromEnv: MAXR}\n"
    )
    monkeypatch.setenv("LEAD", "97")
    monkeypatch.setenv("REL", "hidden-release")
    monkeypatch.setenv("MAXR", "9")
    result = tune(
        [Trace("flat", np.full(120, 8_000.0))],
        "adaptive",
        scenario=load_scenario(path),
        budget=2,
        workers=1,
        ranges={"leadTimeSeconds": (30, 300)},
        common={},
    )
    assert result.space.start["leadTimeSeconds"] == "97"
    assert all(t.error is None for t in result.trials)
    assert result.start.metadata["maxReplicas"] == "9"
    start = result.as_dict()["start"]["metadata"]
    assert start["leadTimeSecondsFromEnv"] == "LEAD" and "leadTimeSeconds" not in start
    paste, example = result.paste
    assert paste["releaseFromEnv"] == "REL" and paste["maxReplicasFromEnv"] == "MAXR"
    assert "release" not in paste and "maxReplicas" not in paste and "release" not in example
    cfg = parse_metadata("t", "ns", resolve_env_references(paste, os.environ))
    assert cfg.scope.release == "hidden-release" and cfg.guardrails.max_replicas == 9
    shown = json.dumps(result.as_dict())
    assert "hidden-release" not in shown and '"97"' not in shown
    assert result.as_dict()["scaled_object"] == {
        "name": "scenario",
        "metadata": {
            "policy": "adaptive",
            "leadTimeSecondsFromEnv": "LEAD",
            "releaseFromEnv": "REL",
            "maxReplicasFromEnv": "MAXR",
        },
    }


def test_tuning_starts_its_runs_as_scaler_simulate_does() -> None:
    """Each candidate starts with the fleet the oracle has booted by the first pod
    start-up (``scaler simulate``'s start), or at the first second's need when asked."""
    trace = rising_in_the_first_minute()
    sc = Scenario()
    oracle = compute_oracle(trace, sc.fleet, sc.slo_ms, sc.startup.nominal_s)
    assert make_problem([trace], sc).initial_replicas == (oracle.warm_fleet(60.0),)
    assert make_problem([trace], sc, warm_start_s=0).initial_replicas == (int(oracle.need[0]),)
    assert oracle.warm_fleet(60.0) > int(oracle.need[0])
