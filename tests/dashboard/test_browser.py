"""A real browser (Debian chromium driven by Playwright) against the dashboard
running beside the real gRPC scaler: see the object, run a what-if on the bundled
LIGO day, apply with the token and watch KEDA's GetMetrics change, then revert.
Screenshots land in tests/artifacts/."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from pydantic import SecretStr

from scaler.assembly import start_dashboard
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.overrides.store import FileBackend, OverrideStore
from scaler.own_metrics import build_metrics
from scaler.server import start_server
from scaler.settings import ServerSettings
from scaler.tracker import ObjectTracker
from tests.dashboard.conftest import BUSY, METADATA, TOKEN
from tests.scripted_observer import ScriptedObserver

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
REPO = Path(__file__).resolve().parents[2]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class Scaler:
    def __init__(self, tmp: Path) -> None:
        self.observer = ScriptedObserver(BUSY)
        metrics = build_metrics()
        self.store = OverrideStore(FileBackend(tmp / "overrides.json"), cache_s=0.0)
        settings = ServerSettings(
            grpc_listen="127.0.0.1:0",
            metrics_listen="",
            dashboard_listen="127.0.0.1:0",
            dashboard_token=SecretStr(TOKEN),
            refresh_interval_s=0.5,
        )
        self.tracker = ObjectTracker(
            self.observer, metrics, refresh_interval_s=0.5, overrides=self.store.overrides_for
        )
        self.server = start_server(settings, self.observer, metrics=metrics, tracker=self.tracker)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.server.port}")
        self.stub = pb_grpc.ExternalScalerStub(self.channel)
        self.dashboard = start_dashboard(
            self.tracker, settings, self.store, traces_dir=REPO / "simulations" / "traces"
        )

    def get_metrics(self) -> float:
        ref = pb.ScaledObjectRef(name="triton", namespace="ligo", scalerMetadata=METADATA)
        resp = self.stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=5)
        return float(resp.metricValues[0].metricValueFloat)

    def stop(self) -> None:
        self.dashboard.stop()
        self.channel.close()
        self.server.stop(0)


def eventually(check: Callable[[], bool], what: str, tries: int = 200) -> None:
    for _ in range(tries):
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def scaler(tmp_path: Path) -> Iterator[Scaler]:
    s = Scaler(tmp_path)
    yield s
    s.stop()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make apt)")
def test_a_user_tunes_applies_and_reverts_in_the_browser(scaler: Scaler) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert scaler.get_metrics() == pytest.approx(3.2)  # 2 ready × 80 ms / 50 ms
    url = scaler.dashboard.url
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url + "/")
            row = page.locator('#objects tr[data-key="ligo/triton"]')
            row.wait_for()
            assert row.locator(".desired").inner_text() == "4"
            assert "fresh" in row.inner_text()
            page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

            row.locator("a").click()
            page.wait_for_url("**/objects/ligo/triton")
            page.locator("#summary .card").first.wait_for()
            page.locator("#log tbody tr").first.wait_for()
            page.screenshot(path=str(ARTIFACTS / "dashboard-object.png"), full_page=True)

            page.click("#tune-link")
            page.wait_for_url("**/tune")
            target = page.locator('#fields input[name="targetMs"]')
            target.wait_for()
            target.fill("-5")
            page.locator('label[data-key="targetMs"] .field-error').filter(
                has_text="greater than 0"
            ).wait_for()
            target.fill("160")
            page.select_option("#bundled", "ligo.csv")
            page.fill("#token", TOKEN)  # what-if jobs need the token
            page.dispatch_event("#token", "change")
            page.click("#run-whatif")
            page.locator("#comparison").wait_for(state="visible", timeout=60_000)
            table = page.locator("#compare").inner_text()
            assert "GPU-hours" in table and "Oracle bound" in table and "p99" in table
            ran = page.locator('#compare tr[data-row="scaled-object"] td.candidate').inner_text()
            assert ran.startswith("triton: ") and "targetMs=160" in ran
            assert "KEDA polls every 30 s" in page.locator("#timers").inner_text()
            page.screenshot(path=str(ARTIFACTS / "dashboard-whatif.png"), full_page=True)

            page.fill("#token", TOKEN)
            page.dispatch_event("#token", "change")
            page.click("#apply")
            page.locator("#toast").filter(has_text="applied").wait_for()
            eventually(lambda: scaler.get_metrics() == pytest.approx(1.0), "GetMetrics → 1.0")

            page.goto(url + "/audit")
            entry = page.locator("#audit tbody tr").first
            entry.wait_for()
            assert "targetMs=160" in entry.inner_text()
            assert "GPU-h" in entry.inner_text()
            page.screenshot(path=str(ARTIFACTS / "dashboard-audit.png"), full_page=True)
            entry.locator("button.revert").click()
            page.locator("#toast").filter(has_text="reverted").wait_for()
            eventually(lambda: scaler.get_metrics() == pytest.approx(3.2), "GetMetrics → 3.2")
            page.locator("#audit tbody tr").filter(has_text="revert").first.wait_for()
            page.screenshot(path=str(ARTIFACTS / "dashboard-reverted.png"), full_page=True)
        finally:
            browser.close()
