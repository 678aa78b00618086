"""Bounds on what a client can make the scaler hold or echo, and secret redaction.

Everything a client sends (ScaledObject metadata over gRPC, dashboard uploads) is
checked against a size bound *before* it is stored or parsed, every message that
quotes client input or a URL is bounded and stripped of credentials, and secrets
in metadata (KEDA's TLS material, ``*FromEnv`` values, anything named like a key,
token or password) are replaced before the metadata is kept, shown or logged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

DEFAULT_MAX_METADATA_BYTES = 65_536
"""Bytes of one request's metadata (keys plus values, UTF-8); setting
``SCALER_MAX_METADATA_BYTES``. More is refused before anything is stored."""

HARD_MAX_METADATA_BYTES = 1_048_576
"""Ceiling :func:`scaler.metadata.parse_metadata` enforces whatever the setting."""

MAX_VALUE_CHARS = 16_384
"""Characters in one metadata value (a schedule of a few hundred campaigns fits)."""

MAX_KEY_CHARS = 253
"""Characters in one metadata key (a Kubernetes name)."""

MAX_MESSAGE_CHARS = 1_000
"""Characters of an error message sent to a client or logged: gRPC's metadata soft
limit is 8 KiB, and a message quoting a 10 KB value helps nobody."""

MAX_QUOTE_CHARS = 80
"""Characters of a client value quoted in an error message."""

MAX_NUMBER = 1e15
"""Largest magnitude accepted for a numeric metadata value: beyond it arithmetic
overflows or loses every digit that matters (no replica count or rate is near it)."""

REDACTED = "<redacted>"

SECRET_KEYS = frozenset({"caCert", "tlsClientCert", "tlsClientKey"})
"""KEDA's TLS material that it forwards to the scaler in the trigger metadata."""

_SECRETISH = re.compile(r"(key|token|password|passwd|secret|credential|auth|cert)", re.IGNORECASE)

# A scheme starts where no scheme character precedes it, so a long run of letters is
# scanned once, not once per position (linear time on any input).
_URL_CREDENTIALS = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)[^/\s@'\"]{0,512}@"
)
_URL_CREDENTIALS_QUOTED = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}%3A%2F%2F)[^/\s@&]{0,512}%40"
)


def metadata_size_problem(metadata: Mapping[str, str], max_bytes: int) -> str | None:
    """Why this metadata is too large to accept, or None. Cheap: stops at the bound."""
    # Every call asks this; most metadata is far below every bound (UTF-8 takes at most
    # 4 bytes a character): answered by C-level sums, without a Python loop.
    keys_chars = sum(map(len, metadata))
    values_chars = sum(map(len, metadata.values()))
    if (
        4 * (keys_chars + values_chars) <= max_bytes
        and max(map(len, metadata), default=0) <= MAX_KEY_CHARS
        and max(map(len, metadata.values()), default=0) <= MAX_VALUE_CHARS
    ):
        return None
    total = 0
    for k, v in metadata.items():
        if len(k) > MAX_KEY_CHARS:
            return f"scalerMetadata key {short(k)} is {len(k)} characters (at most {MAX_KEY_CHARS})"
        if len(v) > MAX_VALUE_CHARS:
            return (
                f"scalerMetadata key {short(k)} = {short(v)}: value is {len(v)} characters "
                f"(at most {MAX_VALUE_CHARS})"
            )
        total += len(k.encode("utf-8", "replace")) + len(v.encode("utf-8", "replace"))
        if total > max_bytes:
            return (
                f"scalerMetadata is more than {max_bytes} bytes "
                "(SCALER_MAX_METADATA_BYTES); refused"
            )
    return None


def number_problem(key: str, value: str) -> str | None:
    """Why a numeric-looking value is unusable (NaN, ±Inf, out of ±1e15), or None."""
    try:
        x = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(x) or abs(x) > MAX_NUMBER:
        return (
            f"scalerMetadata key {short(key)} = {short(value)}: must be a finite number "
            f"within ±{MAX_NUMBER:g}"
        )
    return None


def short(value: object, limit: int = MAX_QUOTE_CHARS) -> str:
    """``repr`` of a client value, cut to ``limit`` characters (never recursing deeply)."""
    if isinstance(value, str):
        text = value if len(value) <= limit else value[:limit]
        out = repr(text)
        return out if len(value) <= limit else f"{out[:-1]}…{out[-1]} ({len(value)} chars)"
    if isinstance(value, list | tuple | dict):
        return f"<{type(value).__name__} of {len(value)}>"
    out = repr(value)
    return out if len(out) <= limit else f"{out[:limit]}…"


def strip_url_credentials(text: str) -> str:
    """``http://user:pass@host`` → ``http://host``, also URL-encoded (``%3A%2F%2F…%40``)."""
    if "@" not in text and "%40" not in text:  # the common case, without two regex scans
        return text
    text = _URL_CREDENTIALS.sub(r"\g<scheme>", text)
    return _URL_CREDENTIALS_QUOTED.sub(r"\g<scheme>", text)


def clean_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message safe to send or log: no URL credentials, at most ``limit`` characters."""
    text = strip_url_credentials(text)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}… ({len(text)} chars, cut)"


def is_secret_key(key: str) -> bool:
    """Keys whose values must never be shown: KEDA's TLS material, ``*FromEnv``
    (the name of an environment variable holding a secret) and key/token/password-ish."""
    return key in SECRET_KEYS or key.endswith("FromEnv") or bool(_SECRETISH.search(key))


def redact(metadata: Mapping[str, str]) -> dict[str, str]:
    """A copy with every secret value replaced by ``<redacted>`` and URL credentials
    stripped from the others; what the scaler keeps, shows and logs."""
    return {
        k: REDACTED if is_secret_key(k) else strip_url_credentials(v) for k, v in metadata.items()
    }
