"""Dashboard hardening (issue 13 findings 9, 10): secrets never shown, state-changing
work needs the token, bounded uploads and jobs (each bound a SCALER_DASHBOARD_MAX_*
setting), Host allow-list and frame/CSP headers."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import Response
from typer.testing import CliRunner

from scaler.cli import app
from scaler.dashboard import api
from scaler.dashboard.context import PARSING_UPLOADS, Dashboard
from scaler.traces.model import Trace
from tests.dashboard.conftest import METADATA, Env, make_env

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


# --- The bounds are settings (SCALER_DASHBOARD_MAX_*), each enforced as set -------------


@pytest.fixture
def env_from_environ(tmp_path: Path) -> Iterator[Callable[[], Env]]:
    """A dashboard whose bounds all come from the environment, built after the test
    has set its variables."""
    made: list[Env] = []

    def build() -> Env:
        e = make_env(tmp_path, max_upload=None)
        made.append(e)
        return e

    yield build
    for e in made:
        e.client.close()
        e.tracker.stop()


def rate_csv(seconds: int, step_s: int = 1) -> bytes:
    """A rate series of ``seconds`` s (100 req/s) in rows ``step_s`` apart."""
    rows = "".join(f"{t},100\n" for t in range(0, seconds, step_s))
    return ("time_s,rps\n" + rows).encode()


def upload(e: Env, name: str, body: bytes) -> Response:
    return e.client.post("/api/traces", files={"file": (name, body)}, headers=e.auth())


def test_upload_size_bound_is_SCALER_DASHBOARD_MAX_UPLOAD_BYTES(
    monkeypatch: pytest.MonkeyPatch, env_from_environ: Callable[[], Env]
) -> None:
    monkeypatch.setenv("SCALER_DASHBOARD_MAX_UPLOAD_BYTES", "5000")
    e = env_from_environ()
    small, big = rate_csv(300), rate_csv(700)
    assert len(small) < 5000 < len(big)
    assert upload(e, "small.csv", small).status_code == 200
    r = upload(e, "big.csv", big)
    assert r.status_code == 413, r.text
    assert "5,000 bytes" in r.json()["detail"]
    assert "SCALER_DASHBOARD_MAX_UPLOAD_BYTES" in r.json()["detail"]
    assert e.client.get("/api/info").json()["max_upload_bytes"] == 5000


def test_inflated_size_bound_is_SCALER_DASHBOARD_MAX_INFLATED_BYTES(
    monkeypatch: pytest.MonkeyPatch, env_from_environ: Callable[[], Env]
) -> None:
    monkeypatch.setenv("SCALER_DASHBOARD_MAX_INFLATED_BYTES", "10000")
    e = env_from_environ()
    small, big = rate_csv(600), rate_csv(1500)
    assert len(small) < 10_000 < len(big)
    assert upload(e, "small.csv.gz", gzip.compress(small)).status_code == 200
    r = upload(e, "big.csv.gz", gzip.compress(big))
    assert r.status_code == 422, r.text
    assert "10,000 bytes" in r.json()["detail"]
    assert "SCALER_DASHBOARD_MAX_INFLATED_BYTES" in r.json()["detail"]


def test_trace_span_bound_is_SCALER_DASHBOARD_MAX_TRACE_SPAN_S(
    monkeypatch: pytest.MonkeyPatch, env_from_environ: Callable[[], Env]
) -> None:
    monkeypatch.setenv("SCALER_DASHBOARD_MAX_TRACE_SPAN_S", "3600")
    e = env_from_environ()
    ok = upload(e, "hour.csv", rate_csv(3600, step_s=60))
    assert ok.status_code == 200, ok.text
    r = upload(e, "two-hours.csv", rate_csv(7200, step_s=60))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "two-hours.csv:" in detail and "3,600 s" in detail
    assert "SCALER_DASHBOARD_MAX_TRACE_SPAN_S" in detail
    assert "scaler-upload" not in detail  # names the upload, not its temporary path


def test_job_bound_is_SCALER_DASHBOARD_MAX_JOBS(
    monkeypatch: pytest.MonkeyPatch, env_from_environ: Callable[[], Env]
) -> None:
    monkeypatch.setenv("SCALER_DASHBOARD_MAX_JOBS", "1")
    e = env_from_environ()
    assert e.client.get("/api/info").json()["limits"]["max_jobs"] == 1
    release = block_jobs(monkeypatch)
    assert submit(e, "whatif").status_code == 202
    r = submit(e, "whatif")
    assert r.status_code == 429, r.text
    assert "SCALER_DASHBOARD_MAX_JOBS" in r.json()["detail"]
    release.set()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCALER_DASHBOARD_MAX_UPLOAD_BYTES", "0"),
        ("SCALER_DASHBOARD_MAX_INFLATED_BYTES", "lots"),
        ("SCALER_DASHBOARD_MAX_TRACE_SPAN_S", "1e12"),
        ("SCALER_DASHBOARD_MAX_JOBS", "-1"),
    ],
)
def test_a_bad_bound_is_a_clear_error_naming_its_variable(variable: str, value: str) -> None:
    result = CliRunner().invoke(app, ["dashboard"], env={variable: value, "COLUMNS": "200"})
    assert result.exit_code == 2
    assert variable in result.output
    assert "Traceback" not in result.output


# --- The job bound (429) and its slots --------------------------------------------------


def block_jobs(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """What-if and tune jobs wait until the returned event is set, so the number
    running at once is up to the test, not to how fast the machine is."""
    release = threading.Event()

    def blocked(*args: Any, **kwargs: Any) -> dict[str, Any]:
        release.wait(30)
        return {"best": {}}

    monkeypatch.setattr(api, "run_whatif", blocked)
    monkeypatch.setattr(api, "run_tune", blocked)
    return release


def submit(e: Env, kind: str) -> Response:
    return e.client.post(
        f"/api/objects/ligo/triton/{kind}",
        json={"override": {}, "trace": {"kind": "bundled", "name": "small.csv"}},
        headers=e.auth(),
    )


def wait_done(e: Env, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = e.client.get(f"/api/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_more_jobs_than_the_limit_get_429_and_a_finished_job_frees_its_slot(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = block_jobs(monkeypatch)
    first = [submit(env, kind) for kind in ("whatif", "tune", "whatif", "tune")]
    assert [r.status_code for r in first] == [202] * 4  # the default limit: 4
    for kind in ("whatif", "tune"):
        r = submit(env, kind)
        assert r.status_code == 429, r.text
        detail = r.json()["detail"]
        assert "4 what-if/tune jobs already queued or running" in detail
        assert "SCALER_DASHBOARD_MAX_JOBS" in detail
    release.set()
    assert wait_done(env, first[0].json()["id"])["status"] == "done"
    again = submit(env, "tune")
    assert again.status_code == 202, again.text
    for r in [*first, again]:
        wait_done(env, r.json()["id"])


# --- Finding 10: the span is checked before allocating; the loop stays free -------------


def test_a_tiny_file_spanning_1e8_s_is_refused_before_allocating(env: Env) -> None:
    tracemalloc.start()
    try:
        r = upload(env, "span.csv", b"time_s,rps\n0,1\n100000000,1\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "span.csv:3" in detail and "100,000,000 s" in detail and "691,200 s" in detail
    assert peak < 50 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB while refusing it"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("rates.csv", b"time_s,rps\n0,1\n10000000000,1\n"),
        ("requests.csv", b"time_s\n0\n10000000000\n"),
        ("rates.jsonl", b'{"time_s": 0, "rps": 1}\n{"time_s": 1e10, "rps": 1}\n'),
        ("rates.csv.gz", gzip.compress(b"time_s,rps\n0,1\n10000000000,1\n")),
    ],
)
def test_a_file_that_would_allocate_tens_of_gib_is_a_clean_4xx(
    env: Env, name: str, body: bytes
) -> None:
    # 1e10 s at 1 s steps is 75 GiB of float64: this once ended in numpy's MemoryError, 500.
    r = upload(env, name, body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith(name.removesuffix(".gz") if name.endswith(".gz") else name)
    assert "spans" in detail and "SCALER_DASHBOARD_MAX_TRACE_SPAN_S" in detail


class HeldParses:
    """Uploads' parses wait in their worker thread until :attr:`release` is set;
    :attr:`reading` counts the parses that have started. Tests then decide what
    overlaps with a parse, instead of hoping the machine is slow enough."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reading = threading.Semaphore(0)
        self.release = threading.Event()
        real = api._load_upload

        def held(path: Path, ctx: Dashboard) -> Trace:
            self.reading.release()
            self.release.wait(20)
            return real(path, ctx)

        monkeypatch.setattr(api, "_load_upload", held)

    async def started(self) -> bool:
        """Wait (up to 20 s, off the loop) for one more parse to start."""
        return await asyncio.to_thread(self.reading.acquire, True, 20)


def async_client(e: Env) -> httpx.AsyncClient:
    """A client in the test's own event loop, the app's loop: a request that blocked
    it would hold up every other one."""
    transport = httpx.ASGITransport(app=e.client.app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def test_the_event_loop_answers_while_a_large_upload_is_processed(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GET is answered while an upload near the size limit is being parsed: parsing
    runs off the event loop. The parse is held until the GET is answered, so this
    does not depend on timing: were it on the loop, the GET would wait for it."""
    body = rate_csv(95_000)  # ~0.95 MB, the test dashboard's limit is 1 MiB
    assert 0.8 * (1 << 20) < len(body) < 1 << 20
    parses = HeldParses(monkeypatch)

    async def scenario() -> tuple[int, bool, int]:
        async with async_client(env) as c:
            post = asyncio.create_task(
                c.post("/api/traces", files={"file": ("big.csv", body)}, headers=env.auth())
            )
            assert await parses.started()
            got = await asyncio.wait_for(c.get("/api/info"), 30)
            still_parsing = not post.done()
            parses.release.set()
            return got.status_code, still_parsing, (await post).status_code

    info, still_parsing, uploaded = asyncio.run(scenario())
    assert info == 200
    assert still_parsing, "the GET was answered only after the upload's parse finished"
    assert uploaded == 200


def test_uploads_read_at_once_are_bounded_and_a_finished_one_frees_its_slot(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each upload takes a core while it is read: two at once, a third gets 429."""
    body = rate_csv(600)
    parses = HeldParses(monkeypatch)

    async def scenario() -> tuple[list[int], Response, int]:
        async with async_client(env) as c:

            async def post() -> Response:
                return await c.post(
                    "/api/traces", files={"file": ("t.csv", body)}, headers=env.auth()
                )

            first = [asyncio.create_task(post()) for _ in range(PARSING_UPLOADS)]
            for _ in first:
                assert await parses.started()
            refused = await asyncio.wait_for(post(), 30)
            parses.release.set()
            done = [(await t).status_code for t in first]
            return done, refused, (await asyncio.wait_for(post(), 30)).status_code

    done, refused, after = asyncio.run(scenario())
    assert done == [200] * PARSING_UPLOADS
    assert refused.status_code == 429, refused.text
    assert "uploads are being read already" in refused.json()["detail"]
    assert after == 200
