"""Metadata fuzz: whatever KEDA forwards, the scaler either accepts it and decides, or
refuses it with a short message naming the key; never another exception, never an
UNKNOWN gRPC status, never a config that crashes the pipeline later."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import Observation, PipelineState, decide
from scaler.keda_proto import externalscaler_pb2 as pb
from scaler.keda_proto import externalscaler_pb2_grpc as pb_grpc
from scaler.limits import short
from scaler.metadata import COMMON_KEYS, KEDA_KEYS, MetadataError, parse_metadata
from scaler.registry import available_policies
from scaler.server import RunningServer
from tests.scaler_server import scaler_settings, start_scaler
from tests.scripted_observer import ManualClock, ScriptedObserver

POLICIES = sorted(available_policies())
KEYS = sorted(
    set(COMMON_KEYS)
    | set(KEDA_KEYS)
    | {
        (f.alias or n)
        for p in available_policies().values()
        for n, f in p.params_model.model_fields.items()
    }
)

numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["inf", "-inf", "nan", "NaN", "+Inf", "1e308", "1e400", "9" * 400, "-0", "0x10", "1_000"]
    ),
)
schedules = st.one_of(
    st.just("[" * 3000 + "]" * 3000),
    st.just(";".join(["0/1h/100"] * 600)),
    st.lists(
        st.tuples(numbers, st.sampled_from(["1h", "nan", "90s", "0", "-5"]), numbers),
        max_size=5,
    ).map(lambda xs: ";".join(f"{a}/{b}/{c}" for a, b, c in xs)),
    st.recursive(st.just("[]"), lambda inner: inner.map(lambda x: f"[{x}]"), max_leaves=50),
)
ALPHABET = "abzAZ09_-.:/@ é\r\n\x00'\"{}[]"
texts = st.one_of(
    st.text(alphabet=ALPHABET, max_size=40),
    st.builds(
        lambda n, c: c * n, st.integers(1000, 20_000), st.sampled_from(["x", "é", "\x00", "9"])
    ),
    st.sampled_from(["", " ", "true", "false", "\r\n", "threshold", "release-a", "{}", "[]"]),
)
values = st.one_of(numbers, texts, schedules, st.sampled_from(POLICIES))
keys = st.one_of(st.sampled_from(KEYS), st.text(alphabet=ALPHABET, min_size=1, max_size=30))
metadata = st.dictionaries(keys, values, max_size=6)


WHOLE_MAP = "SCALER_MAX_METADATA_BYTES"
"""The one refusal about the whole map (its total size), naming the setting instead."""


def named(meta: dict[str, str], message: str) -> list[str]:
    """Keys of ``meta`` the message names: as the scaler quotes a key (its ``repr``,
    cut by :func:`scaler.limits.short` when long) or, for a key the scaler knows, as a
    whole word (``maxReplicas (3) must be ≥ minReplicas (5)``), never as a substring."""
    return [
        k
        for k in meta
        if short(k) in message
        or (k in KEYS and re.search(rf"(?<!\w){re.escape(k)}(?!\w)", message) is not None)
    ]


def assert_names_the_offending_key(meta: dict[str, str], message: str) -> None:
    """The message names a key of the map, and one that is at fault: without it the
    same refusal does not come back (a message naming a bystander would)."""
    assert len(message) < 1024, f"{len(message)}-character message"
    if WHOLE_MAP in message:
        return
    keys = named(meta, message)
    assert keys, f"no key of {sorted(meta)} named in: {message}"
    for k in keys:
        try:
            parse_metadata("t", "cms", {x: v for x, v in meta.items() if x != k})
        except MetadataError as exc:
            if str(exc) == message:
                continue
        return
    raise AssertionError(f"{keys} named, but not at fault: {message}")


def check(meta: dict[str, str], offending: str | None = None) -> None:
    """``offending``: the key that must be named if the metadata is refused."""
    try:
        cfg = parse_metadata("t", "cms", meta)
    except MetadataError as exc:
        message = str(exc)
        assert_names_the_offending_key(meta, message)
        if offending is not None:
            assert offending in named(meta, message), f"{offending!r} not named: {message}"
        return
    obs = Observation(
        time_s=0.0,
        ready_replicas=3,
        request_rate_rps=100.0,
        queue_time_per_request_ms=80.0,
        queue_time_per_exec_ms=90.0,
        pending_requests=2.0,
        gpu_utilization=0.5,
        activation_rps=10.0,
    )
    d, _ = decide(cfg.policy, cfg.params, cfg.guardrails, obs, PipelineState(), 0.0)
    assert math.isfinite(d.value)
    assert cfg.guardrails.min_replicas <= d.value <= cfg.guardrails.max_replicas


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(metadata)
def test_any_metadata_is_accepted_and_decides_or_refused_naming_the_key(
    meta: dict[str, str],
) -> None:
    check(meta)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(set(KEYS) - set(KEDA_KEYS))), values, st.sampled_from(POLICIES))
def test_one_bad_value_in_an_otherwise_valid_trigger_names_its_key(
    key: str, value: str, policy: str
) -> None:
    check({"policy": policy, key: value}, offending=key)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    observer = ScriptedObserver(
        Observation(time_s=0.0, ready_replicas=2, queue_time_per_request_ms=60.0)
    )
    # refreshed by hand on the manual clock (the background loop would wait an hour)
    running = start_scaler(
        observer, scaler_settings(), clock=ManualClock(), refresh_interval_s=3600
    )
    yield running
    running.stop(0)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(metadata)
def test_over_grpc_bad_metadata_is_invalid_argument_never_unknown(
    server: RunningServer, meta: dict[str, str]
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        stub = pb_grpc.ExternalScalerStub(ch)
        ref = pb.ScaledObjectRef(name="fuzz", namespace="cms", scalerMetadata=meta)
        try:
            stub.IsActive(ref, timeout=10)
        except grpc.RpcError as exc:
            assert exc.code() in (
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.UNAVAILABLE,
            ), (exc.code(), exc.details())
            assert len(exc.details() or "") < 1024
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                assert_names_the_offending_key(meta, exc.details() or "")


@pytest.mark.parametrize(
    ("meta", "says", "never"),
    [
        ({"target": "abc"}, "key 'target' = 'abc'", "targetMs"),
        ({"target": "inf"}, "key 'target' = 'inf'", "targetMs"),
        ({"targetFromEnv": "abcSECRET"}, "key 'targetFromEnv' (value not shown)", "SECRET"),
        ({"targetFromEnv": "1e999"}, "key 'targetFromEnv' = (value not shown)", "1e999"),
        ({"maxReplicasFromEnv": "9" * 200}, "'maxReplicasFromEnv' = (value not shown)", "9" * 20),
    ],
)
def test_a_renamed_or_from_env_key_is_named_as_written_and_its_env_value_never_shown(
    meta: dict[str, str], says: str, never: str
) -> None:
    """Found by the fuzz: a deprecated key (threshold's ``target`` of a latency signal)
    was renamed before validation, so errors named ``targetMs``, which the trigger never
    had, and quoted a ``targetFromEnv`` value; a long ``*FromEnv`` number was quoted cut,
    which the redaction did not match."""
    with pytest.raises(MetadataError) as err:
        parse_metadata("t", "cms", meta)
    assert says in str(err.value)
    assert never not in str(err.value)
