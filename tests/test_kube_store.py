"""The ConfigMap key-value store against the fake API server: create on 404,
optimistic concurrency with retry on 409, and typed errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scaler.kube import KubeClient, KubeError, KubeErrorKind
from scaler.kube_store import ConfigMapStore, parse_ref
from tests.fake_kube_api import FakeApi, StoredConfigMap, serve

NS = "sonic-scaler"
NAME = "sonic-scaler-overrides"


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def kube(api: FakeApi) -> Iterator[KubeClient]:
    with serve(api) as base:
        yield KubeClient.for_url(base, timeout_s=2.0)


@pytest.fixture
def store(kube: KubeClient) -> ConfigMapStore:
    return ConfigMapStore.from_ref(kube, f"{NS}/{NAME}")


def test_a_missing_configmap_reads_as_empty(store: ConfigMapStore) -> None:
    assert store.items() == {}
    assert store.get("overrides.json") is None


def test_the_first_put_creates_the_configmap(store: ConfigMapStore, api: FakeApi) -> None:
    store.put("overrides.json", '{"cms/triton": {"target": "40"}}')
    assert api.configmaps[(NS, NAME)].data == {"overrides.json": '{"cms/triton": {"target": "40"}}'}
    assert [r.method for r in api.requests] == ["GET", "POST"]
    assert store.get("overrides.json") == '{"cms/triton": {"target": "40"}}'


def test_a_put_writes_at_the_version_it_read(store: ConfigMapStore, api: FakeApi) -> None:
    api.configmaps[(NS, NAME)] = StoredConfigMap({"a": "1"}, 7)
    store.put("b", "2")
    put = next(r for r in api.requests if r.method == "PUT")
    assert put.body["metadata"]["resourceVersion"] == "7"
    assert api.configmaps[(NS, NAME)].data == {"a": "1", "b": "2"}


def test_a_concurrent_write_is_retried_on_fresh_data_and_kept(
    store: ConfigMapStore, api: FakeApi
) -> None:
    api.configmaps[(NS, NAME)] = StoredConfigMap({"a": "1"}, 7)
    rounds = iter([True])

    def other_replica_writes(fake: FakeApi) -> None:
        if next(rounds, False):
            fake.concurrent_write(NS, NAME, "other", "x")

    api.after_read = other_replica_writes
    store.put("mine", "y")
    assert api.configmaps[(NS, NAME)].data == {"a": "1", "other": "x", "mine": "y"}
    assert [r.method for r in api.requests] == ["GET", "PUT", "GET", "PUT"]


def test_a_create_race_falls_back_to_an_update(store: ConfigMapStore, api: FakeApi) -> None:
    def created_meanwhile(fake: FakeApi) -> None:
        if (NS, NAME) not in fake.configmaps:
            fake.configmaps[(NS, NAME)] = StoredConfigMap({"other": "x"}, fake.bump())

    api.after_read = created_meanwhile
    store.put("mine", "y")
    assert api.configmaps[(NS, NAME)].data == {"other": "x", "mine": "y"}


def test_endless_contention_gives_up_with_a_conflict(kube: KubeClient, api: FakeApi) -> None:
    api.configmaps[(NS, NAME)] = StoredConfigMap({}, 1)
    counter = iter(range(100))
    api.after_read = lambda fake: fake.concurrent_write(NS, NAME, "n", str(next(counter)))
    store = ConfigMapStore(kube, NS, NAME, max_attempts=3)
    with pytest.raises(KubeError) as err:
        store.put("mine", "y")
    assert err.value.kind is KubeErrorKind.CONFLICT
    assert "after 3 attempts" in str(err.value)
    assert sum(r.method == "PUT" for r in api.requests) == 3


def test_delete_removes_only_that_key(store: ConfigMapStore, api: FakeApi) -> None:
    api.configmaps[(NS, NAME)] = StoredConfigMap({"a": "1", "b": "2"}, 3)
    store.delete("a")
    assert api.configmaps[(NS, NAME)].data == {"b": "2"}


def test_an_unchanged_write_is_skipped(store: ConfigMapStore, api: FakeApi) -> None:
    api.configmaps[(NS, NAME)] = StoredConfigMap({"a": "1"}, 3)
    store.put("a", "1")
    store.delete("absent")
    assert [r.method for r in api.requests] == ["GET", "GET"]


def test_forbidden_update_names_the_verb_and_does_not_retry(
    store: ConfigMapStore, api: FakeApi
) -> None:
    api.configmaps[(NS, NAME)] = StoredConfigMap({}, 3)
    api.forbidden.add(("PUT", "configmap"))
    with pytest.raises(KubeError) as err:
        store.put("a", "1")
    assert err.value.kind is KubeErrorKind.FORBIDDEN
    assert "verb 'update' on resource 'configmaps'" in str(err.value)
    assert sum(r.method == "PUT" for r in api.requests) == 1


def test_a_forbidden_read_is_an_error_not_an_empty_store(
    store: ConfigMapStore, api: FakeApi
) -> None:
    api.forbidden.add(("GET", "configmap"))
    with pytest.raises(KubeError, match="verb 'get' on resource 'configmaps'"):
        store.items()


@pytest.mark.parametrize("ref", ["name-only", "/name", "ns/", "a/b/c"])
def test_a_configmap_reference_must_be_namespace_slash_name(ref: str) -> None:
    with pytest.raises(ValueError, match="NAMESPACE/NAME"):
        parse_ref(ref)
