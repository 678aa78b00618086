"""A strict parser for the one PromQL form a ScaledObject may write: a metric name
with equality label matchers, ``name{label="value",...}``.

Why strict: the string comes from whoever may write a ScaledObject and ends up
inside the scaler's queries. Accepting arbitrary PromQL would let that author run
any query (and make the scaler's answer mean anything); accepting only this form
keeps the query shape the scaler's, and every part is checked character by
character. No regex matchers (``=~``), no negation (``!=``), no functions, no
offsets, at most :data:`MAX_LABELS` labels, no duplicates, no reserved ``__``
labels, values of :data:`VALUE_CHARS` only (no quote or backslash can appear, so
no value can leave its string).

The canonical form (:meth:`Selector.text`) sorts the labels, so two spellings of
one selector share one query (and one cache entry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$")

MAX_LABELS = 8
"""More matchers than this is not a scope, it is a query."""

MAX_VALUE_LENGTH = 253

VALUE_CHARS = re.compile(r"^[A-Za-z0-9_.:/@+-]*$")
"""Characters allowed in a label value: enough for Kubernetes names, Envoy cluster
and listener names, ``host:port`` addresses; never a quote, backslash or brace."""

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
      | (?P<string>"[^"\\\n]*")
      | (?P<op>=~|!=|!~|=)
      | (?P<punct>[{},])
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)


class SelectorError(ValueError):
    """Not a valid ``metric{label="value",...}`` selector; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Selector:
    """A metric name and equality matchers (sorted by label name)."""

    metric: str
    labels: tuple[tuple[str, str], ...] = ()

    def text(self) -> str:
        """Canonical PromQL: ``metric`` or ``metric{a="x",b="y"}``."""
        if not self.labels:
            return self.metric
        return self.metric + "{" + ",".join(f'{k}="{v}"' for k, v in self.labels) + "}"

    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the pattern matches any non-space character
            raise SelectorError(f"unexpected text at position {pos}")
        kind = m.lastgroup or "other"
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def parse_selector(text: str, *, reserved: frozenset[str] = frozenset()) -> Selector:
    """Parse ``metric`` or ``metric{label="value", ...}``.

    ``reserved``: label names the caller sets itself (e.g. ``namespace``); naming
    one is an error, so the scope cannot be widened or contradicted.
    Raises :class:`SelectorError` naming what is wrong and where.
    """
    if len(text) > 1000:
        raise SelectorError(f"selector is {len(text)} characters long; at most 1000")
    tokens = _tokens(text)
    if not tokens:
        raise SelectorError('selector is empty; expected metric{label="value",...}')
    kind, metric = tokens[0]
    if kind != "name" or not METRIC_NAME.match(metric):
        raise SelectorError(f"selector must start with a metric name, not {metric!r}")
    rest = tokens[1:]
    if not rest:
        return Selector(metric)
    if rest[0] != ("punct", "{"):
        raise SelectorError(
            f'after the metric name {metric!r} only {{label="value",...}} may follow, '
            f"not {rest[0][1]!r} (no functions, ranges or operators)"
        )
    labels: dict[str, str] = {}
    i = 1
    while True:
        if i >= len(rest):
            raise SelectorError("selector is missing its closing '}'")
        if rest[i] == ("punct", "}"):
            i += 1
            break
        kind, name = rest[i]
        if kind != "name" or not LABEL_NAME.match(name):
            raise SelectorError(f"expected a label name, found {name!r}")
        if name.startswith("__"):
            raise SelectorError(f"label {name!r}: names starting with '__' are reserved")
        if name in reserved:
            raise SelectorError(
                f"label {name!r} is set by the scaler from the trigger's own "
                f"{name!r} key; remove it from the selector"
            )
        if name in labels:
            raise SelectorError(f"label {name!r} appears twice")
        if i + 2 >= len(rest):
            raise SelectorError(f"label {name!r} needs ={{quoted value}}")
        op_kind, op = rest[i + 1]
        if (op_kind, op) != ("op", "="):
            raise SelectorError(
                f"label {name!r}: only equality matchers (=) are allowed, not {op!r}"
            )
        val_kind, quoted = rest[i + 2]
        if val_kind != "string":
            raise SelectorError(f"label {name!r}: the value must be double-quoted, not {quoted!r}")
        value = quoted[1:-1]
        if len(value) > MAX_VALUE_LENGTH or not VALUE_CHARS.match(value):
            raise SelectorError(
                f"label {name!r}: value {value!r} may hold only letters, digits and "
                f"'_.:/@+-', at most {MAX_VALUE_LENGTH} characters"
            )
        labels[name] = value
        if len(labels) > MAX_LABELS:
            raise SelectorError(f"more than {MAX_LABELS} labels")
        i += 3
        if i < len(rest) and rest[i] == ("punct", ","):
            i += 1
        elif i < len(rest) and rest[i] != ("punct", "}"):
            raise SelectorError(f"expected ',' or '}}' after label {name!r}, found {rest[i][1]!r}")
    if i != len(rest):
        raise SelectorError(
            f"unexpected {rest[i][1]!r} after the closing '}}' (no functions, ranges or operators)"
        )
    return Selector(metric, tuple(sorted(labels.items())))
