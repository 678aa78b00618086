"""A run's plot series of replicas come out the same whether the step function is
expanded over the whole trace or a chunk at a time (which keeps memory flat)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from scaler.sim.scores import Pod
from scaler.sim.totals import bucket_max, held_steps, piecewise_bucket_max


def _whole_held(pods: list[Pod], steps: int, bucket: int) -> np.ndarray:
    diff = np.zeros(steps + 1, dtype=np.int64)
    for p in pods:
        a = min(max(math.ceil(p.created_s - 1e-9), 0), steps)
        b = min(max(math.ceil(p.released_s - 1e-9), 0), steps)
        if b > a:
            diff[a] += 1
            diff[b] -= 1
    return bucket_max(np.cumsum(diff)[:steps], bucket)


@pytest.mark.parametrize("seed", range(40))
def test_chunked_series_equal_the_whole_trace_ones(seed: int) -> None:
    rng = random.Random(seed)
    steps = rng.choice([1, 5, 1_000, 12_345, 400_000])
    bucket = rng.choice([1, 7, 78, 1_000])
    pods = []
    for _ in range(rng.randint(0, 30)):
        created = rng.uniform(-100, steps * 1.1)
        pods.append(Pod(created, None, created + rng.uniform(0, steps / 2)))
    np.testing.assert_array_equal(
        held_steps(pods, steps, 1.0, bucket), _whole_held(pods, steps, bucket)
    )
    changes = [(0, rng.randint(0, 9))]
    for _ in range(rng.randint(0, 40)):
        changes.append((changes[-1][0] + rng.randint(0, max(steps // 10, 1)), rng.randint(0, 99)))
    starts = [min(s, steps) for s, _ in changes] + [steps]
    whole = np.repeat([v for _, v in changes], np.maximum(np.diff(starts), 0))
    got = piecewise_bucket_max(
        np.asarray([s for s, _ in changes]), np.asarray([v for _, v in changes]), steps, bucket
    )
    np.testing.assert_array_equal(got, bucket_max(whole, bucket))
