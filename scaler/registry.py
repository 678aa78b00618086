"""Find policies by name: built-ins plus plug-ins from the ``sonic_scaler.policies``
entry-point group (a class implementing :class:`policies.Policy`)."""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from policies import (
    AdaptivePolicy,
    PidPolicy,
    Policy,
    PredictivePolicy,
    StaticPolicy,
    ThresholdPolicy,
)
from policies.leading import with_indicators
from policies.schedule import ScheduledThresholdPolicy

ENTRY_POINT_GROUP = "sonic_scaler.policies"

log = logging.getLogger(__name__)


class UnknownPolicyError(LookupError):
    """A policy name that no built-in or installed plug-in provides."""


def _builtins() -> dict[str, Policy]:
    builtins: tuple[Policy, ...] = (
        AdaptivePolicy(),
        ThresholdPolicy(),
        PidPolicy(),
        PredictivePolicy(),
        StaticPolicy(),
        ScheduledThresholdPolicy(),
        with_indicators(AdaptivePolicy()),
        with_indicators(PredictivePolicy()),
    )
    return {p.name: p for p in builtins}


@cache
def available_policies() -> dict[str, Policy]:
    """Every policy by name; plug-ins that fail to load are skipped (logged with
    their traceback), not fatal, so one broken package cannot stop the scaler
    deciding for everyone else."""
    found = _builtins()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        try:
            obj = ep.load()
            policy = obj() if isinstance(obj, type) else obj
        except Exception:
            log.exception("policy plug-in %r (%s) failed to load; skipped", ep.name, ep.value)
            continue
        if isinstance(policy, Policy):
            found[ep.name] = policy
        else:
            log.error(
                "policy plug-in %r (%s) is a %s, not a policies.Policy; skipped",
                ep.name,
                ep.value,
                type(policy).__name__,
            )
    return found


def get_policy(name: str) -> Policy:
    """The policy registered as ``name``, or :class:`UnknownPolicyError` listing the choices."""
    policies = available_policies()
    try:
        return policies[name]
    except KeyError:
        raise UnknownPolicyError(
            f"unknown policy {name!r}; available: {', '.join(sorted(policies))}"
        ) from None
