"""The override store's ConfigMap, through :class:`scaler.kube_store.ConfigMapStore`.

RBAC for the scaler's ServiceAccount, in the ConfigMap's namespace: ``get`` and
``update`` on the named ConfigMap (``create`` on ``configmaps`` too if the
manifests do not ship it).
"""

from __future__ import annotations

from scaler.kube import KubeClient, KubeError, KubeErrorKind
from scaler.kube_store import ConfigMapStore
from scaler.overrides.errors import ConflictError, StoreError


class KubernetesConfigMap:
    """``read``/``write`` of one ConfigMap with the store's error types: a write
    carries the resourceVersion it read, so a concurrent change is a
    :class:`ConflictError` and :class:`scaler.overrides.store.OverrideStore` retries."""

    def __init__(self, store: ConfigMapStore) -> None:
        self._store = store

    @classmethod
    def from_environment(cls, namespace: str, name: str) -> KubernetesConfigMap:
        try:
            client = KubeClient.from_environment()
        except KubeError as exc:
            raise StoreError(f"ConfigMap {namespace}/{name}: {exc}") from None
        return cls(ConfigMapStore(client, namespace, name))

    def read(self) -> tuple[dict[str, str], str | None]:
        try:
            return self._store.read()
        except KubeError as exc:
            raise StoreError(str(exc)) from None

    def write(self, data: dict[str, str], resource_version: str | None) -> None:
        try:
            self._store.write(data, resource_version)
        except KubeError as exc:
            if exc.kind is KubeErrorKind.CONFLICT:
                raise ConflictError(str(exc)) from None
            raise StoreError(str(exc)) from None
