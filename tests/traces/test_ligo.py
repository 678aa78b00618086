"""The LIGO-like day has the documented features, at the documented times,
and is the same for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from scaler.traces.ligo import LigoParams, day_params, generate_ligo, ligo_layout

HOUR = 3600


def quiet(**changes: float) -> LigoParams:
    """The default day without the random bursts, so features can be checked alone."""
    return LigoParams(bursts=0, **changes)


def test_same_seed_gives_the_same_trace() -> None:
    first = generate_ligo(LigoParams(seed=7))
    second = generate_ligo(LigoParams(seed=7))

    np.testing.assert_array_equal(first.rps, second.rps)
    np.testing.assert_array_equal(first.items, second.items)
    np.testing.assert_array_equal(first.bursts, second.bursts)


def test_another_seed_gives_another_trace() -> None:
    assert not np.array_equal(
        generate_ligo(LigoParams(seed=1)).rps, generate_ligo(LigoParams(seed=2)).rps
    )


def test_default_day_is_a_day_at_one_second() -> None:
    trace = generate_ligo()

    assert trace.duration_s == 86_400
    assert trace.step_s == 1.0
    assert len(trace.rps) == 86_400


def test_online_baseline_is_three_streams_at_512_hz_of_single_items() -> None:
    trace = generate_ligo(quiet())
    before_campaign = slice(0, 6 * HOUR)

    np.testing.assert_array_equal(trace.rps[before_campaign], 1536)
    np.testing.assert_array_equal(trace.items[before_campaign], 1)
    np.testing.assert_array_equal(trace.bursts[before_campaign], 1)


def test_campaign_is_a_step_at_six_hours_of_batch_128_requests() -> None:
    params = quiet()
    trace = generate_ligo(params)
    plateau = slice(6 * HOUR + 60, 10 * HOUR)

    assert trace.rps[6 * HOUR - 1] == 1536
    assert float(trace.rps[plateau].mean()) == pytest.approx(1536 + 800, rel=0.005)
    expected_items = (1536 * 1 + 800 * 128) / 2336
    assert float(trace.items[plateau].mean()) == pytest.approx(expected_items, rel=0.01)
    assert float(trace.bursts[plateau].mean()) == pytest.approx(1536 / 2336, rel=0.01)
    layout = ligo_layout(params)
    assert 6 * HOUR <= layout.job_starts_s.min() <= layout.job_starts_s.max() <= 6 * HOUR + 60
    assert (trace.rps[10 * HOUR + 60 : 14 * HOUR] == 1536).all()


def test_campaign_rises_within_about_a_minute() -> None:
    trace = generate_ligo(quiet())
    start = 6 * HOUR

    assert float(trace.rps[start + 61 : start + 120].min()) > 1536 + 700
    assert float(trace.rps[start : start + 60].mean()) < 1536 + 800


def test_lock_loss_silences_one_stream_for_thirty_minutes_at_fourteen_hours() -> None:
    trace = generate_ligo(quiet())
    start = 14 * HOUR

    assert trace.rps[start - 1] == 1536
    np.testing.assert_array_equal(trace.rps[start : start + 1800], 1024)
    assert trace.rps[start + 1800] == 1536


def test_bursts_add_their_rate_at_their_drawn_times() -> None:
    params = LigoParams(seed=3, campaign_duration_s=0, lock_loss_duration_s=0, bursts=2)
    trace = generate_ligo(params)
    starts = ligo_layout(params).burst_starts_s

    assert len(starts) == 2
    for start in starts.astype(int):
        window = trace.rps[start : start + 300]
        assert float(window.mean()) == pytest.approx(1536 + 200, rel=0.01)
        assert float(trace.items[start : start + 300].mean()) > 1
    assert any("burst" in note for note in trace.notes)


def test_finer_steps_show_the_one_second_square_wave() -> None:
    trace = generate_ligo(quiet(duration_s=10, step_s=0.1, campaign_duration_s=0))

    per_second = trace.rps.reshape(10, 10)
    np.testing.assert_allclose(per_second[:, 0], 1536 / 0.1)
    np.testing.assert_array_equal(per_second[:, 1:], 0)
    assert trace.requests == pytest.approx(15360)


def test_every_parameter_is_documented_with_a_description() -> None:
    undocumented = [n for n, f in LigoParams.model_fields.items() if not f.description]

    assert undocumented == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"step_s": 0.3}, "must divide frame_s"),
        ({"step_s": 2.0}, "must divide frame_s"),
        ({"streams": 1, "lock_loss_streams": 2}, "exceeds streams"),
        ({"duration_s": 100, "burst_duration_s": 300}, "exceeds duration_s"),
        ({"streams": -1}, "greater than or equal to 0"),
    ],
)
def test_inconsistent_parameters_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LigoParams(**changes)


def _campaign_hours(day_rps: np.ndarray) -> np.ndarray:
    """Hours of a day whose mean rate shows the campaign (well above the 1,536 baseline)."""
    hourly = day_rps[: 24 * HOUR].reshape(24, HOUR).mean(axis=1)
    return np.flatnonzero(hourly > 1_536 + 300)


def test_days_strings_days_together_with_features_at_other_times() -> None:
    trace = generate_ligo(LigoParams(seed=3, days=3))

    assert len(trace.rps) == 3 * 24 * HOUR
    days = trace.rps.reshape(3, 24 * HOUR)
    hours = [tuple(_campaign_hours(d)) for d in days]
    assert all(hours), "every day has a campaign"
    assert len(set(hours)) == 3, "each day's campaign falls at other hours"
    quiet_days = LigoParams(seed=3, days=3, bursts=0, campaign_rps=0)
    losses = [p.lock_loss_start_s for p in day_params(quiet_days)]
    assert len(set(losses)) == 3, "each day's lock loss starts at another time"
    online = generate_ligo(quiet_days).rps.reshape(3, 24 * HOUR)
    for day, start in zip(online, losses, strict=True):
        assert day[int(start) + 60] == 1_024


def test_days_are_reproducible_and_day_one_is_the_single_day() -> None:
    a = generate_ligo(LigoParams(seed=5, days=2))
    b = generate_ligo(LigoParams(seed=5, days=2))
    np.testing.assert_array_equal(a.rps, b.rps)
    assert a.name == "ligo-seed5-2d"
    assert any(note.startswith("day 2: campaign") for note in a.notes)
