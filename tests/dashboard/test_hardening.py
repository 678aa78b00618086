"""Dashboard hardening (issue 13 findings 9, 10): secrets never shown, state-changing
work needs the token, bounded uploads, Host allow-list and frame/CSP headers."""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.dashboard.conftest import METADATA, Env

SECRET_META = {
    **METADATA,
    "tlsClientKey": "-----BEGIN PRIVATE KEY-----MIIEv",
    "caCert": "-----BEGIN CERTIFICATE-----MIIDd",
}


def test_trigger_secrets_are_never_shown_by_the_api_or_the_export(env: Env) -> None:
    env.tracker.track(env.tracker.config_for("triton", "ligo", SECRET_META))
    texts = [
        env.client.get("/api/objects/ligo/triton").text,
        env.client.get("/api/objects/ligo/triton/export").text,
        env.client.get("/api/objects").text,
    ]
    for text in texts:
        assert "MIIEv" not in text and "MIIDd" not in text
    body = env.client.get("/api/objects/ligo/triton").json()
    assert body["base_metadata"]["tlsClientKey"] == "<redacted>"


def test_what_if_tune_and_uploads_need_the_token(env: Env, tmp_path: Path) -> None:
    trace = {"kind": "bundled", "name": "small.csv"}
    for url in ("/api/objects/ligo/triton/whatif", "/api/objects/ligo/triton/tune"):
        r = env.client.post(url, json={"override": {}, "trace": trace})
        assert r.status_code == 401, r.text
    good = (tmp_path / "traces" / "small.csv").read_bytes()
    r = env.client.post("/api/traces", files={"file": ("mine.csv", good, "text/csv")})
    assert r.status_code == 401


def test_only_the_owner_cancels_a_job(env: Env) -> None:
    r = env.client.post(
        "/api/objects/ligo/triton/tune",
        json={"override": {}, "trace": {"kind": "bundled", "name": "small.csv"}, "budget": 40},
        headers={**env.auth(), "X-Scaler-Actor": "alice"},
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    other = env.client.post(
        f"/api/jobs/{job_id}/cancel", headers={**env.auth(), "X-Scaler-Actor": "mallory"}
    )
    assert other.status_code == 403
    assert env.client.post(f"/api/jobs/{job_id}/cancel").status_code == 401
    mine = env.client.post(
        f"/api/jobs/{job_id}/cancel", headers={**env.auth(), "X-Scaler-Actor": "alice"}
    )
    assert mine.status_code == 200


def test_a_gzip_bomb_is_refused_without_inflating_it_all(env: Env) -> None:
    body = b"time_s,rps\n" + b"0,1\n" + b"#" * (80 * 1024 * 1024)
    bomb = gzip.compress(body, compresslevel=9)
    assert len(bomb) < 200_000
    r = env.client.post("/api/traces", files={"file": ("bomb.csv.gz", bomb)}, headers=env.auth())
    assert r.status_code == 422
    assert "inflates to more than" in r.json()["detail"]


def test_a_tiny_file_spanning_years_is_refused_before_allocating(env: Env) -> None:
    r = env.client.post(
        "/api/traces",
        files={"file": ("span.csv", b"time_s,rps\n0,1\n100000000,1\n")},
        headers=env.auth(),
    )
    assert r.status_code == 422, r.text


def test_foreign_hosts_are_refused_and_pages_cannot_be_framed(env: Env) -> None:
    r = env.client.get("/api/objects", headers={"Host": "attacker.example"})
    assert r.status_code == 421
    ok = env.client.get("/")
    assert ok.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in ok.headers["content-security-policy"]
    assert env.client.get("/api/objects").headers["x-frame-options"] == "DENY"


def test_csv_download_survives_a_name_with_crlf(env: Env) -> None:
    cfg = env.tracker.config_for("bad\r\nname", "ligo", METADATA)
    env.tracker.refresh_one(env.tracker.track(cfg))
    r = env.client.get("/api/objects/ligo/bad%0D%0Aname/decisions.csv")
    assert r.status_code == 200
    assert "\r" not in r.headers["content-disposition"]
