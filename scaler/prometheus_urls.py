"""Prometheus base URLs: one canonical spelling, credentials never in a URL or a message.

A trigger may name its own Prometheus (``serverAddress``, as KEDA's Prometheus
trigger calls it), but only one of the URLs the server's settings allow
(``SCALER_PROMETHEUS_URL`` and ``SCALER_PROMETHEUS_ALLOWED_URLS``), so whoever
writes a ScaledObject cannot make the scaler call an arbitrary address. Both
sides are normalised here first, so ``HTTP://Prom:80/`` and ``http://prom``
compare equal.

Pure functions and a frozen dataclass; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from scaler.limits import strip_url_credentials

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
MAX_CREDENTIAL_LENGTH = 8192


class UrlError(ValueError):
    """Not an acceptable Prometheus URL; the message never contains credentials."""


def normalise_url(raw: str) -> str:
    """``scheme://host[:port][/path]``: lower-case scheme and host, default port and
    trailing ``/`` dropped. Raises :class:`UrlError` for anything else (no
    credentials, query or fragment; http or https only)."""
    text = raw.strip()
    shown = strip_url_credentials(text)
    if not text:
        raise UrlError("empty URL")
    if len(text) > MAX_URL_LENGTH:
        raise UrlError(f"URL longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 for c in text):
        raise UrlError(f"{shown!r} contains whitespace or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"{shown!r} is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlError(f"{shown!r}: scheme must be http or https")
    if "@" in parts.netloc:
        raise UrlError(
            f"{shown!r}: credentials in the URL are not allowed; "
            "use bearerTokenFromEnv or authHeaderFromEnv"
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlError(f"{shown!r} has no host")
    if parts.query or parts.fragment:
        raise UrlError(f"{shown!r}: no query or fragment allowed, only scheme://host[:port][/path]")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def parse_allowed(text: str | Iterable[str]) -> tuple[str, ...]:
    """The allow-list from a comma- or space-separated string (or an iterable),
    normalised and de-duplicated in order; raises :class:`UrlError` naming the entry."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        try:
            url = normalise_url(item)
        except UrlError as exc:
            raise UrlError(f"SCALER_PROMETHEUS_ALLOWED_URLS entry {exc}") from None
        if url not in out:
            out.append(url)
    return tuple(out)


def check_credential(key: str, value: str) -> str:
    """A credential from trigger metadata, checked without ever echoing it."""
    if not value or len(value) > MAX_CREDENTIAL_LENGTH:
        raise UrlError(f"{key}: must be 1 to {MAX_CREDENTIAL_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UrlError(f"{key}: contains control characters (a newline?); value not shown")
    return value


@dataclass(frozen=True, slots=True)
class PrometheusTarget:
    """The Prometheus one trigger reads: ``url`` (normalised; None means the server's
    ``SCALER_PROMETHEUS_URL``) and the ``Authorization`` header value to send (None:
    the server's own credentials, only ever sent to the server's URL). The header is
    kept out of ``repr`` so it never reaches a log line."""

    url: str | None = None
    authorization: str | None = field(default=None, repr=False)

    @property
    def is_default(self) -> bool:
        return self.url is None and self.authorization is None
