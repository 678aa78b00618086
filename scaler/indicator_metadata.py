"""The ``indicator<N>…`` keys of a ScaledObject: leading indicators from the batch system.

Each indicator N (1, 2, … up to :data:`MAX_INDICATORS`, numbered without gaps) is:

``indicator<N>Metric`` (required)
    A Prometheus series counting client work that will soon send requests, as a
    metric name with equality label matchers only, ``metric{label="value",...}``
    (:mod:`scaler.selector`: no functions, regexes or other PromQL). The scaler
    queries ``sum(<selector>)``: e.g. the Slurm exporter's
    ``slurm_account_jobs_pending{account="ligo"}``.
``indicator<N>LoadPerUnit`` (optional)
    Requests per second one unit (one job) brings once it sends, > 0. Learned from
    the history (regression of the arrival rate on the indicator) when absent.
``indicator<N>LeadSeconds`` (optional)
    Seconds from a unit appearing in the count to its first requests, ≥ 0. Learned
    (cross-correlation of the indicator's and the arrival rate's rises) when absent.
``indicator<N>ItemsPerRequest`` (optional)
    Batch items in one of those requests (a LIGO campaign: 128), > 0: the work the
    load brings. Learned with the load when absent, else the fleet's current mix.
``indicator<N>GroupSize`` (optional)
    Units that appear together (a job array; a campaign's 16 jobs), > 0: when the
    first of a group appear, the rest are announced with them. Learned (the median
    size of the indicator's past groups of rises) when absent.
``indicator<N>RealisedFraction`` (optional)
    Share of counted units that do send, 0 < f ≤ 1 (jobs failing while they stage
    leave the count unsent): announced units not yet due are worth this much of one.
    Learned (units still counted when due over units that appeared) when absent.

Indicators need a policy that uses them (``leading-<policy>``); errors name the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from policies.indicators import IndicatorSettings
from scaler.selector import Selector, SelectorError, parse_selector

MAX_INDICATORS = 8
"""More leading indicators than this on one fleet is a query language, not a scope."""

SUFFIXES = (
    "Metric",
    "LoadPerUnit",
    "LeadSeconds",
    "ItemsPerRequest",
    "GroupSize",
    "RealisedFraction",
)
KEY = re.compile(r"^indicator(\d+)([A-Za-z]*)$")
"""``indicator<N><Suffix>``: the keys this module owns (``indicatorHorizonSeconds`` and the
other policy parameters have no number and are the policy's)."""

MAX_LEAD_S = 86_400.0
MAX_LOAD_PER_UNIT = 1e9
MAX_ITEMS = 1e6


class IndicatorMetadataError(ValueError):
    """An ``indicator<N>…`` key is wrong; the message names the key and what is allowed."""


@dataclass(frozen=True, slots=True)
class IndicatorQuery:
    """One validated indicator: where to read it and what the policy is told about it."""

    number: int
    selector: Selector
    settings: IndicatorSettings

    @property
    def promql(self) -> str:
        """The instant query: the indicator summed over its series (0 series: no value)."""
        return f"sum({self.selector.text()})"


def is_indicator_key(key: str) -> bool:
    """True for ``indicator<N>…`` keys (they are validated here, not by the policy)."""
    return KEY.match(key) is not None


def _number(key: str, raw: str, *, low: float, high: float, strict_low: bool) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise IndicatorMetadataError(
            f"scalerMetadata key {key!r} = {raw!r}: not a number"
        ) from None
    too_low = value <= low if strict_low else value < low
    if not math.isfinite(value) or too_low or value > high:
        bound = f"> {low:g}" if strict_low else f"≥ {low:g}"
        raise IndicatorMetadataError(
            f"scalerMetadata key {key!r} = {raw!r}: must be a finite number {bound} and ≤ {high:g}"
        )
    return value


def parse_indicators(metadata: Mapping[str, str]) -> tuple[IndicatorQuery, ...]:
    """The leading indicators set in ``metadata`` (other keys are ignored), in order.

    Raises :class:`IndicatorMetadataError` naming the first wrong key: an unknown
    suffix, a number out of range or with a gap, a missing ``Metric``, a selector
    that is not ``metric{label="value",...}``, a bad load or lead.
    """
    by_number: dict[int, dict[str, tuple[str, str]]] = {}
    for key in sorted(metadata):
        m = KEY.match(key)
        if m is None:
            continue
        digits, suffix = m.groups()
        if suffix not in SUFFIXES:
            allowed = ", ".join(f"indicator{digits}{s}" for s in SUFFIXES)
            raise IndicatorMetadataError(
                f"scalerMetadata key {key!r} is not an indicator key; allowed: {allowed}"
            )
        n = int(digits)
        if not 1 <= n <= MAX_INDICATORS or digits != str(n):
            raise IndicatorMetadataError(
                f"scalerMetadata key {key!r}: indicators are numbered 1 to {MAX_INDICATORS}"
            )
        by_number.setdefault(n, {})[suffix] = (key, metadata[key])
    out = []
    for n in sorted(by_number):
        if n > 1 and n - 1 not in by_number:
            raise IndicatorMetadataError(
                f"scalerMetadata key {next(iter(by_number[n].values()))[0]!r}: indicator{n - 1}"
                "Metric is missing (indicators are numbered from 1 without gaps)"
            )
        keys = by_number[n]
        if "Metric" not in keys:
            given = next(iter(keys.values()))[0]
            raise IndicatorMetadataError(
                f"scalerMetadata key {given!r} needs indicator{n}Metric: the series to read, "
                'metric{label="value",...}'
            )
        key, raw = keys["Metric"]
        try:
            selector = parse_selector(raw)
        except SelectorError as exc:
            raise IndicatorMetadataError(
                f"scalerMetadata key {key!r} = {raw!r}: {exc} "
                '(allowed: a metric name with equality matchers, metric{label="value",...})'
            ) from None
        load = lead = None
        if "LoadPerUnit" in keys:
            key, raw = keys["LoadPerUnit"]
            load = _number(key, raw, low=0.0, high=MAX_LOAD_PER_UNIT, strict_low=True)
        if "LeadSeconds" in keys:
            key, raw = keys["LeadSeconds"]
            lead = _number(key, raw, low=0.0, high=MAX_LEAD_S, strict_low=False)
        items = None
        if "ItemsPerRequest" in keys:
            key, raw = keys["ItemsPerRequest"]
            items = _number(key, raw, low=0.0, high=MAX_ITEMS, strict_low=True)
        group = None
        if "GroupSize" in keys:
            key, raw = keys["GroupSize"]
            group = _number(key, raw, low=0.0, high=MAX_ITEMS, strict_low=True)
        realised = None
        if "RealisedFraction" in keys:
            key, raw = keys["RealisedFraction"]
            realised = _number(key, raw, low=0.0, high=1.0, strict_low=True)
        settings = IndicatorSettings(selector.metric, load, lead, items, group, realised)
        out.append(IndicatorQuery(number=n, selector=selector, settings=settings))
    return tuple(out)


def indicator_keys(queries: tuple[IndicatorQuery, ...]) -> dict[str, str]:
    """The ``indicator<N>…`` metadata that parses back to ``queries`` (for exports)."""
    out: dict[str, str] = {}
    for q in queries:
        n = q.number
        out[f"indicator{n}Metric"] = q.selector.text()
        for suffix, value in (
            ("LoadPerUnit", q.settings.load_per_unit),
            ("LeadSeconds", q.settings.lead_s),
            ("ItemsPerRequest", q.settings.items_per_request),
            ("GroupSize", q.settings.group_size),
            ("RealisedFraction", q.settings.realised),
        ):
            if value is not None:
                out[f"indicator{n}{suffix}"] = f"{value:g}"
    return out


def describe_contribution(queries: tuple[IndicatorQuery, ...], inputs: Mapping[str, object]) -> str:
    """One line for people: each indicator's value and announced units, and the replicas
    they added to the decision (from the decision's inputs)."""
    parts = []
    for q in queries:
        value = inputs.get(f"indicator{q.number}")
        announced = inputs.get(f"indicator{q.number}_announced")
        text = f"{q.selector.text()} = {'absent' if value is None else value}"
        if isinstance(announced, int | float) and announced > 0:
            text += f" ({announced:g} announced)"
        parts.append(text)
    added = inputs.get("indicator_replicas")
    tail = f" → +{added:.2f} replicas" if isinstance(added, int | float) and added > 0 else ""
    return "; ".join(parts) + (tail or " → +0 replicas")
