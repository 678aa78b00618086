"""Fixtures that start real Prometheus and Triton servers on loopback.

- ``prometheus``: one real Prometheus per test module (scrape and evaluation every
  1 s, targets from a file the test rewrites). Tests keep apart by giving their
  targets a ``namespace`` of their own.
- ``triton_replica``: a factory starting real Triton replicas (nvidia-pytriton);
  all are stopped, process group and all, when the test ends.
- ``loadgen``: a factory starting load generators against replicas; all stop at
  the end of the test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scaler.testbed.loadgen import LoadGenerator
from scaler.testbed.prometheus_server import PrometheusServer
from scaler.testbed.triton_replica import ServiceLaw, TritonReplica


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = PrometheusServer(
        workdir=tmp_path_factory.mktemp("prometheus"),
        scrape_interval_s=1.0,
        evaluation_interval_s=1.0,
    )
    server.start()
    try:
        yield server
    finally:
        server.close()


TritonFactory = Callable[..., TritonReplica]


@pytest.fixture
def triton_replica(tmp_path: Path) -> Iterator[TritonFactory]:
    """``triton_replica(model="model", law=ServiceLaw(...))`` → a started replica.

    Safe to call from several threads to start replicas side by side; all are
    stopped together at the end of the test."""
    started: list[TritonReplica] = []
    numbers = itertools.count()

    def make(model: str = "model", law: ServiceLaw | None = None) -> TritonReplica:
        replica = TritonReplica(model=model, law=law, workdir=tmp_path / f"triton-{next(numbers)}")
        started.append(replica)
        replica.start()
        return replica

    try:
        yield make
    finally:
        with ThreadPoolExecutor(max(1, len(started))) as pool:
            list(pool.map(TritonReplica.close, started))


LoadgenFactory = Callable[..., LoadGenerator]


@pytest.fixture
def loadgen() -> Iterator[LoadgenFactory]:
    """``loadgen(replica_urls, model, rate_rps=..., threads=...)`` → a running generator."""
    started: list[LoadGenerator] = []

    def make(
        replicas: Sequence[str], model: str, *, rate_rps: float, threads: int = 8
    ) -> LoadGenerator:
        gen = LoadGenerator(replicas, model, rate_rps=rate_rps, threads=threads)
        started.append(gen)
        gen.start()
        return gen

    try:
        yield make
    finally:
        for gen in started:
            gen.stop()
