"""The object page shows a ScaledObject's leading indicators and what they added."""

from __future__ import annotations

import time
from dataclasses import replace

import yaml

from scaler.metadata import parse_metadata
from tests.dashboard.conftest import BUSY, Env

SLURM = 'slurm_account_jobs_pending{account="ligo"}'
META = {
    "policy": "leading-predictive",
    "capacityRpsPrior": "80",
    "indicator1Metric": SLURM,
    "indicator1LoadPerUnit": "50",
    "indicator1LeadSeconds": "180",
}


def test_summary_series_and_export_carry_the_indicators(env: Env) -> None:
    env.observer.observation = replace(BUSY, indicators=(16.0,))
    obj = env.tracker.track(env.tracker.config_for("campaign", "ligo", META))
    assert obj.ready.wait(10)
    env.tracker.refresh_one(obj)
    env.tracker.refresh_one(obj)

    summary = env.client.get("/api/objects/ligo/campaign").json()["summary"]
    assert summary["indicators"].startswith(f"{SLURM} = 16")
    assert summary["indicator_replicas"] == 0.0
    series = env.client.get("/api/objects/ligo/campaign/series").json()
    assert series["indicator_names"] == [SLURM]
    assert series["indicator1"][-1] == 16.0
    assert len(series["indicator_replicas"]) == len(series["time_s"])

    exported = yaml.safe_load(env.client.get("/api/objects/ligo/campaign/export").text)
    metadata = exported["spec"]["triggers"][0]["metadata"]
    assert metadata["indicator1Metric"] == SLURM
    assert metadata["indicator1LoadPerUnit"] == "50"
    assert "indicators" not in metadata
    again = parse_metadata("campaign", "ligo", metadata)
    assert again.indicators == obj.config.indicators


def test_objects_without_indicators_have_none(env: Env) -> None:
    summary = env.client.get("/api/objects/ligo/triton").json()["summary"]
    assert summary["indicators"] is None
    assert "indicator_names" not in env.client.get("/api/objects/ligo/triton/series").json()


def test_jobs_announced_a_minute_ago_show_what_they_add(env: Env) -> None:
    """Sixteen jobs queued a minute ago, due in two more: the object page's summary and
    series give the replicas ordered for them, not only the job count."""
    now = time.time()
    quiet = replace(BUSY, indicators=(0.0,))
    queued = replace(BUSY, indicators=(16.0,))
    env.observer.past = [replace(quiet, time_s=now - 900 + 5 * i) for i in range(168)]
    env.observer.past += [replace(queued, time_s=now - 60 + 5 * i) for i in range(12)]
    env.observer.observation = queued
    obj = env.tracker.track(env.tracker.config_for("campaign", "ligo", META))
    assert obj.ready.wait(10)
    env.tracker.refresh_one(obj)

    summary = env.client.get("/api/objects/ligo/campaign").json()["summary"]
    # At least the announced load over the capacity prior: 16 jobs x 50 req/s / 80 req/s.
    assert summary["indicator_replicas"] >= 16 * 50 / 80, summary["indicators"]
    assert summary["indicators"].startswith(f"{SLURM} = 16")
    assert "16 announced" in summary["indicators"]
    series = env.client.get("/api/objects/ligo/campaign/series").json()
    assert series["indicator_replicas"][-1] == summary["indicator_replicas"]
