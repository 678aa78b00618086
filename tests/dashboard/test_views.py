"""The dashboard's views of a tracked object: every health state is reachable from a
decision the tracker can hold, and the base metadata is the object's own."""

from __future__ import annotations

from dataclasses import replace

from policies import Decision, Status
from scaler.dashboard import views
from scaler.metadata import parse_metadata
from scaler.tracker import TrackedObject

META = {"policy": "threshold", "targetMs": "50", "tlsClientKey": "<redacted>"}


def _obj(decision: Decision | None = None, error: str | None = None) -> TrackedObject:
    return TrackedObject(
        parse_metadata("triton", "ligo", META), META, decision=decision, error=error
    )


def _decision(status: Status = Status.OK, time_s: float = 100.0) -> Decision:
    return Decision(
        time_s=time_s,
        value=2.5,
        status=status,
        reason="because",
        active=True,
        policy="threshold",
        recommended=2.5,
    )


def test_every_health_state_is_reachable() -> None:
    def health(obj: TrackedObject, now_s: float = 101.0) -> str:
        return views.health(obj, now_s, refresh_interval_s=5.0)

    assert health(_obj()) == "pending"
    assert health(_obj(error="Prometheus unreachable")) == "erroring"
    assert health(_obj(_decision(Status.NO_SERIES))) == "no-series"
    assert health(_obj(_decision(Status.FAIL))) == "erroring"
    assert health(_obj(_decision(Status.HOLD))) == "stale"
    assert health(_obj(_decision()), now_s=116.0) == "stale"
    assert health(_obj(_decision())) == "fresh"


def test_an_override_is_merged_on_the_objects_own_metadata() -> None:
    obj = _obj()
    assert views.base_metadata(obj) == META
    merged = views.merged_metadata(obj, {"targetMs": "80"})
    assert merged == {**META, "targetMs": "80"}
    assert views.merged_metadata(obj, {}) == META


def test_the_summary_of_an_object_without_a_decision_says_why() -> None:
    s = views.summary(_obj(error="no series"), 0.0, 5.0, {})
    assert s["reason"] == "no series" and s["desired_replicas"] is None
    inf = replace(_decision(), value=float("inf"))
    assert views.summary(_obj(inf), 101.0, 5.0, {})["value"] is None


def test_a_what_if_on_an_object_reading_a_parameter_from_the_environment_parses() -> None:
    """KEDA forwards ``targetMsFromEnv`` with its resolved value; the tracker keeps it
    redacted, so an override merged on the kept metadata read ``<redacted>`` as the
    number. The parsed value stands in for it; credentials stay redacted."""
    sent = {"policy": "adaptive", "targetMsFromEnv": "80", "tlsClientKey": "secret"}
    kept = {"policy": "adaptive", "targetMsFromEnv": "<redacted>", "tlsClientKey": "<redacted>"}
    obj = TrackedObject(parse_metadata("triton", "ligo", sent), kept)
    merged = views.merged_metadata(obj, {"leadTimeSeconds": "120"})
    assert merged["targetMs"] == "80" and "targetMsFromEnv" not in merged
    assert merged["leadTimeSeconds"] == "120" and merged["tlsClientKey"] == "<redacted>"
    assert views.merged_metadata(obj, {"targetMs": "60"})["targetMs"] == "60"
    assert views.base_metadata(obj)["targetMsFromEnv"] == "<redacted>"
