"""``scaler.testbed.runner`` without starting anything: the ScaledObject the testbed's
scaler is given, and what its result rows say it ran."""

from __future__ import annotations

from scaler.metadata import parse_metadata
from scaler.testbed.proxy import ACTIVATION_METRIC
from scaler.testbed.runner import Testbed, TestbedOptions
from scaler.testbed.runner import testbed_scenario as built_in_scenario


def test_the_scaler_is_given_the_scenarios_metadata_scoped_to_the_testbed() -> None:
    """The scenario's trigger metadata plus the testbed's own scope (namespace, release,
    model and the proxy's activation metric); nothing else, so the server parses the
    rate window the simulator runs (the scenario's ``rateWindowSeconds``)."""
    sc = built_in_scenario()
    tb = Testbed(sc, TestbedOptions(namespace="ns", release="rel", model="m"))
    try:
        meta = tb.settings.metadata
    finally:
        tb.close()
    assert meta == {
        **sc.scaledObject.trigger.metadata,
        "namespace": "ns",
        "release": "rel",
        "model": "m",
        "activationMetric": ACTIVATION_METRIC,
    }
    cfg = parse_metadata("testbed", "ns", meta)
    assert cfg.rate_window_s == sc.rate_window_s() == 10
    assert cfg.guardrails == sc.scaler_config().guardrails


def test_the_scenarios_own_scope_is_kept() -> None:
    sc = built_in_scenario()
    trig = sc.scaledObject.trigger
    own = trig.model_copy(update={"metadata": {**trig.metadata, "model": "mine"}})
    so = sc.scaledObject.model_copy(update={"triggers": [own]})
    tb = Testbed(sc.model_copy(update={"scaledObject": so}))
    try:
        assert tb.settings.metadata["model"] == "mine"
    finally:
        tb.close()
