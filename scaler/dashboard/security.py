"""Who may change what, and what a browser may be tricked into sending.

* Reading needs nothing; changing (apply, revert) needs ``Authorization: Bearer
  <token>`` with the configured token. No token configured: the dashboard is
  read-only and every change is refused with 403.
* CSRF: a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` (or
  ``Referer``) is another site is refused. One that carries the dashboard's
  cookie (so it came from a browser that loaded a page) must also echo the
  cookie's random value in the ``X-CSRF-Token`` header (double submit). Scripts
  without cookies need only their bearer token.
* Request bodies are limited to ``max_body_bytes`` before anything parses them.
* DNS rebinding: a request whose ``Host`` is not in the allow-list (loopback names,
  the listen address, ``SCALER_DASHBOARD_ALLOWED_HOSTS``) is refused with 421.
* Every response says ``X-Frame-Options: DENY`` and carries a Content-Security-Policy
  (scripts and styles only from the dashboard itself; no framing).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from pydantic import SecretStr

CSRF_COOKIE = "scaler_csrf"
CSRF_HEADER = "x-csrf-token"
ACTOR_HEADER = "x-scaler-actor"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ACTOR = re.compile(r"^[\w.@ -]{1,64}$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TokenAuth:
    """Checks the bearer token of change requests (constant-time comparison)."""

    def __init__(self, token: SecretStr | None) -> None:
        value = token.get_secret_value() if token is not None else ""
        self._token = value.encode() if value else None

    @property
    def read_only(self) -> bool:
        return self._token is None

    def require(self, request: Request) -> str:
        """The actor to record in the audit log, or an HTTPException (401/403)."""
        if self._token is None:
            raise HTTPException(
                403,
                "the dashboard is read-only: start the scaler with SCALER_DASHBOARD_TOKEN "
                "to allow changes",
            )
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise HTTPException(
                401,
                "this change needs 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(given.strip().encode(), self._token):
            raise HTTPException(
                401, "the bearer token is wrong", headers={"WWW-Authenticate": "Bearer"}
            )
        actor = request.headers.get(ACTOR_HEADER, "").strip()
        return f"token ({actor})" if actor and _ACTOR.match(actor) else "token"

    def owner(self, request: Request) -> str:
        """Who is asking, for job ownership: the authenticated actor plus the browser
        session (the CSRF cookie) if any, so one browser cannot cancel another's job."""
        actor = self.require(request)
        session = request.cookies.get(CSRF_COOKIE, "")
        digest = hashlib.sha256(session.encode()).hexdigest()[:16] if session else "-"
        return f"{actor} / {digest}"


def _origin(value: str) -> str | None:
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


async def _reject(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyTooLargeError(Exception):
    pass


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)

PAGE_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    b"base-uri 'self'; form-action 'self'"
)
"""Plotly needs eval and inline styles; nothing is loaded from elsewhere."""

DOCS_CSP = b"frame-ancestors 'none'"
"""The offline Swagger UI at /docs boots from an inline script; it may not be framed."""


def allowed_hosts(listen: str, extra: str) -> frozenset[str]:
    """Host names the dashboard answers to: loopback, the listen host when it is a
    specific address, and the comma-separated ``extra`` (e.g. its Service's DNS name)."""
    hosts = set(LOOPBACK_HOSTS)
    host = listen.rpartition(":")[0].strip("[]")
    if host and host not in ("0.0.0.0", "::"):
        hosts.add(host.lower())
    hosts.update(h.strip().lower() for h in extra.split(",") if h.strip())
    return frozenset(hosts)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rpartition(":")[0] if value.count(":") == 1 else value


class GuardMiddleware:
    """CSRF checks, the body size limit, and a CSRF cookie with every HTML page."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, hosts: frozenset[str] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _host_name(_header(scope, b"host") or "")
        if self.hosts is not None and host not in self.hosts:
            await _reject(
                send,
                421,
                f"Host {host[:100]!r} is not one this dashboard answers to "
                "(SCALER_DASHBOARD_ALLOWED_HOSTS)",
            )
            return
        method = scope.get("method", "GET")
        path = str(scope.get("path", ""))
        csp = DOCS_CSP if path.startswith(("/docs", "/static-docs")) else PAGE_CSP
        if method in UNSAFE_METHODS:
            problem = self._csrf_problem(scope)
            if problem is not None:
                await _reject(send, 403, problem)
                return
            length = _header(scope, b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                await _reject(send, 413, f"request body larger than {self.max_body_bytes} bytes")
                return
            receive = self._limited(receive)
        needs_cookie = _cookie(scope, CSRF_COOKIE) is None
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    *message.get("headers", []),
                    *SECURITY_HEADERS,
                    (b"content-security-policy", csp),
                ]
                headers = dict(message.get("headers", []))
                is_page = headers.get(b"content-type", b"").startswith(b"text/html")
                if needs_cookie and is_page:
                    cookie = f"{CSRF_COOKIE}={secrets.token_urlsafe(24)}; Path=/; SameSite=Strict"
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"set-cookie", cookie.encode()),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BodyTooLargeError:
            if not started:
                await _reject(send, 413, f"request body larger than {self.max_body_bytes} bytes")

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise BodyTooLargeError()
            return message

        return wrapped

    def _csrf_problem(self, scope: Scope) -> str | None:
        host = _header(scope, b"host")
        scheme = scope.get("scheme", "http")
        own = f"{scheme}://{host}".lower() if host else None
        origin = _header(scope, b"origin") or _header(scope, b"referer")
        if origin is not None and origin != "null":
            if own is None or _origin(origin) != own:
                return f"cross-site request refused (origin {_origin(origin) or origin!r})"
        elif origin == "null":
            return "cross-site request refused (opaque origin)"
        cookie = _cookie(scope, CSRF_COOKIE)
        if cookie is not None:
            given = _header(scope, CSRF_HEADER.encode()) or ""
            if not hmac.compare_digest(given.encode(), cookie.encode()):
                return f"missing or wrong {CSRF_HEADER} header (must echo the {CSRF_COOKIE} cookie)"
        return None
