"""Errors of the override store (their own module, so the ConfigMap backend and the
store both use them without importing each other)."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The store could not be read or written; the message says where and why."""


class ConflictError(StoreError):
    """Someone else wrote the document since it was read (HTTP 409 for a ConfigMap)."""
