"""The JSON API: reads, decision log, validation, what-if jobs, apply/revert and
every kind of bad input answered with a clear 4xx."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from scaler.dashboard import api
from scaler.metadata import DEFAULT_POLICY, POLICY_KEY
from tests.dashboard.conftest import Env, make_env


def wait_job(env: Env, job_id: str) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = env.client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_overview_lists_the_object_with_its_decision_and_health(env: Env) -> None:
    rows = env.client.get("/api/objects").json()
    assert [r["key"] for r in rows] == ["ligo/triton"]
    row = rows[0]
    assert row["policy"] == "threshold"
    assert row["ready_replicas"] == 2
    assert row["desired_replicas"] == 4  # 2 × 80 ms / 50 ms = 3.2 → 4
    assert row["health"] == "fresh"
    assert "80" in row["reason"]


def test_object_detail_shows_its_metadata_and_no_override(env: Env) -> None:
    body = env.client.get("/api/objects/ligo/triton").json()
    assert body["metadata"]["targetMs"] == "50"
    assert body["metadata"]["maxReplicas"] == "20"
    assert body["override"] == {}


def test_unknown_object_is_404_everywhere(env: Env) -> None:
    for url in (
        "/api/objects/ligo/nope",
        "/api/objects/ligo/nope/decisions",
        "/api/objects/ligo/nope/decisions.csv",
        "/api/objects/ligo/nope/series",
        "/api/objects/ligo/nope/export",
        "/objects/ligo/nope",
    ):
        assert env.client.get(url).status_code == 404, url


def test_decision_log_is_searchable_and_exports_csv_with_every_input(env: Env) -> None:
    env.observer.error = "Prometheus timed out"
    env.refresh()
    env.observer.error = None
    env.refresh()
    all_rows = env.client.get("/api/objects/ligo/triton/decisions").json()
    held = env.client.get("/api/objects/ligo/triton/decisions", params={"q": "holding"}).json()
    assert len(held) == 1 and held[0]["status"] == "hold"
    assert len(all_rows) > len(held)
    csv_text = env.client.get("/api/objects/ligo/triton/decisions.csv").text
    header = csv_text.splitlines()[0].split(",")
    assert {"time_s", "status", "replicas", "reason", "input.queue_time_per_request_ms"} <= set(
        header
    )
    assert len(csv_text.strip().splitlines()) == len(all_rows) + 1


def test_series_has_decision_markers_where_replicas_change(env: Env) -> None:
    env.refresh()
    series = env.client.get("/api/objects/ligo/triton/series").json()
    assert len(series["time_s"]) == len(series["desired_replicas"]) >= 2
    assert series["ready_replicas"][-1] == 2
    assert series["marker"][0] is False


def test_export_is_scaled_object_yaml_with_the_live_metadata(env: Env) -> None:
    text = env.client.get("/api/objects/ligo/triton/export").text
    assert "kind: ScaledObject" in text and "targetMs: '50'" in text


def test_policies_carry_their_parameter_schema(env: Env) -> None:
    body = env.client.get("/api/policies").json()
    policies = {p["name"]: p["schema"] for p in body["policies"]}
    target = policies["threshold"]["properties"]["targetMs"]
    assert target["exclusiveMinimum"] == 0 and "milliseconds" in target["description"]
    assert "enum" in str(policies["threshold"]["properties"]["signal"])


def test_policies_name_the_key_the_page_builds_an_override_with(env: Env) -> None:
    """The page reads the policy's metadata key from the API, not a spelling of its own:
    an override built with it (as app.js does) switches the policy."""
    body = env.client.get("/api/policies").json()
    assert body["key"] == POLICY_KEY and body["default"] == DEFAULT_POLICY
    override = {body["key"]: "pid", "kp": "0.3"}
    ok = env.client.post("/api/objects/ligo/triton/preview", json={"override": override})
    assert ok.status_code == 200, ok.text
    assert f"{POLICY_KEY}: pid" in ok.json()["yaml"] and "kp: '0.3'" in ok.json()["yaml"]


def test_a_renamed_policy_key_and_default_reach_the_api(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API spells neither the policy key nor the default policy: with both changed in
    one place the catalogue sends the new key and a tuned override keeps the new default
    policy's parameters under it."""
    monkeypatch.setattr(api, "POLICY_KEY", "renamedPolicy")
    monkeypatch.setattr(api, "DEFAULT_POLICY", "static")
    assert env.client.get("/api/policies").json()["key"] == "renamedPolicy"
    tuned = {"replicas": "3", "targetMs": "80", "minReplicas": "1"}
    assert api._policy_override(tuned, {}) == {"replicas": "3"}
    named = {"renamedPolicy": "threshold", **tuned}
    assert api._policy_override(named, {}) == {"renamedPolicy": "threshold", "targetMs": "80"}


def test_preview_names_the_invalid_parameter(env: Env) -> None:
    ok = env.client.post("/api/objects/ligo/triton/preview", json={"override": {"targetMs": "80"}})
    assert ok.status_code == 200 and "targetMs: '80'" in ok.json()["yaml"]
    bad = env.client.post("/api/objects/ligo/triton/preview", json={"override": {"targetMs": "-1"}})
    assert bad.status_code == 422
    assert "'targetMs'" in bad.json()["detail"] and "greater than 0" in bad.json()["detail"]
    scope = env.client.post("/api/objects/ligo/triton/preview", json={"override": {"model": "x"}})
    assert scope.status_code == 422 and "cannot be set here" in scope.json()["detail"]
    policy = env.client.post(
        "/api/objects/ligo/triton/preview", json={"override": {"policy": "nope"}}
    )
    assert policy.status_code == 422 and "unknown policy" in policy.json()["detail"]


def test_changes_need_the_token(env: Env) -> None:
    url = "/api/objects/ligo/triton/override"
    missing = env.client.put(url, json={"override": {"targetMs": "80"}})
    assert missing.status_code == 401 and "Bearer" in missing.json()["detail"]
    wrong = env.client.put(
        url, json={"override": {"targetMs": "80"}}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401 and "wrong" in wrong.json()["detail"]
    assert env.client.delete(url).status_code == 401
    assert env.client.post("/api/audit/abc/revert").status_code == 401
    assert env.store.all_overrides() == {}


def test_read_only_dashboard_refuses_changes(tmp_path: Path) -> None:
    e = make_env(tmp_path, token=None)
    r = e.client.put(
        "/api/objects/ligo/triton/override",
        json={"override": {"targetMs": "80"}},
        headers={"Authorization": "Bearer anything"},
    )
    assert r.status_code == 403 and "read-only" in r.json()["detail"]
    assert e.client.get("/api/info").json()["read_only"] is True
    e.tracker.stop()


def test_apply_reaches_the_tracker_and_revert_restores_it(env: Env) -> None:
    url = "/api/objects/ligo/triton/override"
    r = env.client.put(
        url,
        json={"override": {"targetMs": "160"}, "note": "less eager"},
        headers={**env.auth(), "X-Scaler-Actor": "alice"},
    )
    assert r.status_code == 200, r.text
    applied = r.json()
    assert applied["who"] == "token (alice)"
    assert applied["old"] == {} and applied["new"] == {"targetMs": "160"}
    env.refresh()
    assert env.obj.decision is not None and env.obj.decision.replicas == 1  # 2 × 80 / 160
    assert env.client.get("/api/objects").json()[0]["overridden"] is True

    r = env.client.post(f"/api/audit/{applied['id']}/revert", headers=env.auth())
    assert r.status_code == 200 and r.json()["reverts"] == applied["id"]
    env.refresh()
    assert env.obj.decision is not None and env.obj.decision.replicas == 4
    assert [e["action"] for e in env.client.get("/api/audit").json()] == ["revert", "apply"]


def test_invalid_override_is_refused_before_it_reaches_the_scaler(env: Env) -> None:
    r = env.client.put(
        "/api/objects/ligo/triton/override",
        json={"override": {"maxReplicas": "0"}},
        headers=env.auth(),
    )
    assert r.status_code == 422 and "maxReplicas" in r.json()["detail"]
    assert env.store.all_overrides() == {}


def test_what_if_compares_candidate_and_current_and_its_summary_backs_the_apply(
    env: Env,
) -> None:
    r = env.client.post(
        "/api/objects/ligo/triton/whatif",
        headers=env.auth(),
        json={
            "override": {"targetMs": "20", "minReplicas": "3"},
            "trace": {"kind": "bundled", "name": "small.csv"},
        },
    )
    assert r.status_code == 202, r.text
    job = wait_job(env, r.json()["id"])
    assert job["status"] == "done", job
    comp = job["result"]["comparison"]
    for side in ("current", "candidate"):
        assert comp[side]["gpu_hours"] > 0
        assert 0 <= comp[side]["slo_attainment"] <= 1
        assert set(comp[side]["latency_ms"]) == {"p50", "p95", "p99"}
    assert comp["oracle"]["gpu_hours"] > 0
    assert comp["candidate"]["gpu_hours"] > comp["current"]["gpu_hours"]
    ran = {side: comp[side]["scaled_object"] for side in ("current", "candidate")}
    assert ran["current"]["name"] == ran["candidate"]["name"] == "triton"
    assert ran["current"]["metadata"]["targetMs"] != "20"
    assert {k: ran["candidate"]["metadata"][k] for k in ("targetMs", "minReplicas")} == {
        "targetMs": "20",
        "minReplicas": "3",
    }
    assert comp["candidate"]["timers"]["keda_polling_interval_s"] == 30  # the scenario's
    assert len(comp["series"]["time_s"]) == len(comp["series"]["candidate_held"])

    applied = env.client.put(
        "/api/objects/ligo/triton/override",
        json={"override": {"targetMs": "20", "minReplicas": "3"}, "job_id": job["id"]},
        headers=env.auth(),
    ).json()
    assert applied["simulation"]["candidate"] == comp["candidate"]


def test_tune_for_me_returns_a_better_or_equal_candidate(env: Env) -> None:
    r = env.client.post(
        "/api/objects/ligo/triton/tune",
        headers=env.auth(),
        json={
            "override": {"targetMs": "50"},
            "trace": {"kind": "bundled", "name": "small.csv"},
            "budget": 4,
            "slo_target": 0.5,
        },
    )
    assert r.status_code == 202, r.text
    job = wait_job(env, r.json()["id"])
    assert job["status"] == "done", job
    result = job["result"]
    assert result["runs"] <= 4
    assert result["override"]["policy"] == "threshold" and "targetMs" in result["override"]
    start = next(t for t in result["trials"] if t["label"] == "start")
    assert result["comparison"]["candidate"]["gpu_hours"] <= start["gpu_hours"]


def test_jobs_can_be_cancelled_and_unknown_jobs_are_404(env: Env) -> None:
    assert env.client.get("/api/jobs/nope").status_code == 404
    assert env.client.post("/api/jobs/nope/cancel", headers=env.auth()).status_code == 404
    r = env.client.post(
        "/api/objects/ligo/triton/tune",
        headers=env.auth(),
        json={"override": {}, "trace": {"kind": "bundled", "name": "small.csv"}, "budget": 40},
    )
    job_id = r.json()["id"]
    env.client.post(f"/api/jobs/{job_id}/cancel", headers=env.auth())
    assert wait_job(env, job_id)["status"] == "cancelled"


def test_bad_trace_references_are_4xx(env: Env) -> None:
    url = "/api/objects/ligo/triton/whatif"
    for trace, status in (
        ({"kind": "bundled", "name": "../../etc/passwd"}, 404),
        ({"kind": "upload", "id": "nope"}, 404),
        ({"kind": "prometheus", "hours": -1}, 422),
        ({"kind": "prometheus", "hours": 1000}, 422),
        ({"kind": "carrier-pigeon"}, 422),
    ):
        r = env.client.post(url, json={"override": {}, "trace": trace}, headers=env.auth())
        assert r.status_code == status, (trace, r.text)


def test_unreachable_prometheus_fails_the_job_with_the_reason(env: Env) -> None:
    r = env.client.post(
        "/api/objects/ligo/triton/whatif",
        headers=env.auth(),
        json={"override": {}, "trace": {"kind": "prometheus", "hours": 1}},
    )
    job = wait_job(env, r.json()["id"])
    assert job["status"] == "failed" and "Prometheus" in job["error"]


def test_upload_accepts_a_trace_and_rejects_junk(env: Env, tmp_path: Path) -> None:
    good = (tmp_path / "traces" / "small.csv").read_bytes()
    r = env.client.post(
        "/api/traces", files={"file": ("mine.csv", good, "text/csv")}, headers=env.auth()
    )
    assert r.status_code == 200, r.text
    assert r.json()["trace"]["duration_s"] == 1800
    assert r.json()["id"] in env.client.get("/api/traces").json()["uploads"]

    junk = env.client.post(
        "/api/traces", files={"file": ("x.csv", b"time_s,rps\n0,abc\n")}, headers=env.auth()
    )
    assert junk.status_code == 422 and "abc" in junk.json()["detail"]
    binary = env.client.post(
        "/api/traces", files={"file": ("x.csv", bytes(range(256)) * 4)}, headers=env.auth()
    )
    assert binary.status_code == 422
    exe = env.client.post("/api/traces", files={"file": ("x.exe", b"MZ")}, headers=env.auth())
    assert exe.status_code == 415
    empty = env.client.post("/api/traces", files={"file": ("x.csv", b"")}, headers=env.auth())
    assert empty.status_code == 422


def test_huge_upload_is_413(tmp_path: Path) -> None:
    e = make_env(tmp_path, max_upload=10_000)
    big = b"time_s,rps\n" + b"".join(f"{i},1\n".encode() for i in range(20_000))
    r = e.client.post("/api/traces", files={"file": ("big.csv", big)}, headers=e.auth())
    assert r.status_code == 413
    e.tracker.stop()


def test_browser_posts_need_the_csrf_token_and_same_origin(env: Env) -> None:
    env.client.get("/")
    csrf = env.client.cookies.get("scaler_csrf")
    assert csrf
    url = "/api/objects/ligo/triton/preview"
    body = {"override": {"targetMs": "80"}}
    assert env.client.post(url, json=body).status_code == 403
    ok = env.client.post(url, json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    cross = env.client.post(
        url, json=body, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    )
    assert cross.status_code == 403 and "cross-site" in cross.json()["detail"]


def test_pages_render_and_assets_are_local(env: Env) -> None:
    for url in ("/", "/objects/ligo/triton", "/objects/ligo/triton/tune", "/audit"):
        page = env.client.get(url)
        assert page.status_code == 200
        assert "https://" not in page.text and "http://" not in page.text
    assert env.client.get("/static/app.js").status_code == 200
    js = env.client.get("/static/plotly.min.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert env.client.get("/docs").status_code == 200


def test_guardrail_fields_come_from_the_one_schema(env: Env) -> None:
    from scaler.metadata import GUARDRAIL_KEYS

    schema = env.client.get("/api/guardrails").json()
    assert set(schema["properties"]) == GUARDRAIL_KEYS
