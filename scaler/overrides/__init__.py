"""Parameter overrides applied from the dashboard, with their audit log.

Outside the dashboard because the tracker reads them on every decision
(``OverrideStore.overrides_for``) whether or not the dashboard runs.
:mod:`scaler.overrides.store` keeps them in a file or a ConfigMap
(:mod:`scaler.overrides.configmap`); :mod:`scaler.overrides.errors` holds the errors
both share.
"""

from scaler.overrides.errors import ConflictError, StoreError
from scaler.overrides.store import OverrideStore, UnknownEntryError, build_store

__all__ = ["ConflictError", "OverrideStore", "StoreError", "UnknownEntryError", "build_store"]
