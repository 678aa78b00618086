"""The policy registry: a plug-in that fails to load is skipped and logged, never silent."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from scaler import registry


class _BrokenEntryPoint:
    name = "broken"
    value = "broken_pkg.policy:Broken"

    def load(self) -> Any:
        raise ImportError("No module named 'broken_pkg'")


class _NotAPolicy:
    name = "odd"
    value = "odd_pkg:thing"

    def load(self) -> Any:
        return 42


@pytest.fixture
def fake_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(
        registry, "entry_points", lambda group: [_BrokenEntryPoint(), _NotAPolicy()]
    )
    registry.available_policies.cache_clear()
    yield
    registry.available_policies.cache_clear()


def test_a_plugin_that_fails_to_load_is_logged_and_skipped(
    fake_plugins: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="scaler.registry"):
        found = registry.available_policies()
    assert "threshold" in found
    assert "broken" not in found and "odd" not in found
    text = caplog.text
    assert "'broken'" in text and "No module named 'broken_pkg'" in text
    assert "'odd'" in text and "not a policies.Policy" in text
