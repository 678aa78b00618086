"""A key-value store in one ConfigMap, shared by every scaler replica.

The dashboard keeps its policy overrides here so that both replicas behind the
headless Service (and a restarted one) see the same values. Writes are
read-modify-write with optimistic concurrency: each write carries the
``resourceVersion`` it read, a concurrent writer's change makes the API server
answer 409, and the write is redone on the fresh data (at most ``max_attempts``
times). A missing ConfigMap is created on the first write.

RBAC (in the ConfigMap's namespace): ``get`` and ``update`` on the named
ConfigMap; ``create`` on ``configmaps`` only if the manifests do not ship it
(``manifests/base`` does, so the scaler never needs ``create``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from scaler.kube import KubeClient, KubeError, KubeErrorKind

DEFAULT_ATTEMPTS = 5
"""Read-modify-write rounds before giving up on a contended ConfigMap: two replicas
and one operator rarely collide more than once."""


def parse_ref(ref: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` (``SCALER_OVERRIDES_CONFIGMAP``) as a pair; ValueError otherwise."""
    namespace, sep, name = ref.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"ConfigMap reference {ref!r}: expected NAMESPACE/NAME")
    return namespace, name


class ConfigMapStore:
    """String keys to string values in ConfigMap ``namespace/name``.

    Every method raises :class:`scaler.kube.KubeError` on API failure; a missing
    ConfigMap reads as empty.
    """

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        *,
        max_attempts: int = DEFAULT_ATTEMPTS,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be ≥ 1, got {max_attempts!r}")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.max_attempts = max_attempts

    @classmethod
    def from_ref(
        cls, client: KubeClient, ref: str, *, max_attempts: int = DEFAULT_ATTEMPTS
    ) -> ConfigMapStore:
        namespace, name = parse_ref(ref)
        return cls(client, namespace, name, max_attempts=max_attempts)

    @property
    def description(self) -> str:
        return f"ConfigMap {self.namespace}/{self.name}"

    def read(self) -> tuple[dict[str, str], str | None]:
        """All data and its ``resourceVersion`` (``({}, None)`` if the ConfigMap is absent)."""
        try:
            found = self.client.get_config_map(self.namespace, self.name)
        except KubeError as exc:
            if exc.kind is KubeErrorKind.NOT_FOUND:
                return {}, None
            raise
        return found.data, found.resource_version

    def write(self, data: Mapping[str, str], resource_version: str | None) -> str:
        """Replace all data if still at ``resource_version`` (create if ``None``); returns
        the new version. A concurrent change raises ``KubeError`` of kind ``CONFLICT``."""
        if resource_version is None:
            written = self.client.create_config_map(self.namespace, self.name, dict(data))
        else:
            written = self.client.replace_config_map(
                self.namespace, self.name, dict(data), resource_version
            )
        return written.resource_version

    def items(self) -> dict[str, str]:
        return self.read()[0]

    def get(self, key: str) -> str | None:
        return self.read()[0].get(key)

    def update(self, change: Callable[[dict[str, str]], dict[str, str]]) -> dict[str, str]:
        """Apply ``change`` (a pure function of the current data) and write the result,
        redoing it on fresh data after each 409; returns the data written."""
        last: KubeError | None = None
        for _ in range(self.max_attempts):
            current, version = self.read()
            wanted = change(dict(current))
            if wanted == current:
                return wanted
            try:
                self.write(wanted, version)
            except KubeError as exc:
                if exc.kind is not KubeErrorKind.CONFLICT:
                    raise
                last = exc
                continue
            return wanted
        raise KubeError(
            KubeErrorKind.CONFLICT,
            f"{self.description}: still changing under us after {self.max_attempts} "
            f"attempts; last: {last}",
            409,
        )

    def put(self, key: str, value: str) -> None:
        self.update(lambda data: {**data, key: value})

    def delete(self, key: str) -> None:
        self.update(lambda data: {k: v for k, v in data.items() if k != key})
