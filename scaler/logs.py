"""One JSON object per log line, on stdout, for every logger in the process.

Log collectors (Loki, Fluent Bit, Cloud Logging) parse a line that is a JSON object
into fields, so the scaler's own records, uvicorn's, urllib3's retries and Python
warnings all go through one python-json-logger formatter on one stdout handler.
Records whose message is itself a JSON object (the tracker's decision lines) have
their fields lifted to the top level instead of being quoted inside ``message``.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

FIELDS = "{levelname}{name}{message}"
RENAMED = {"levelname": "level", "name": "logger"}
THIRD_PARTY = ("uvicorn", "uvicorn.error", "uvicorn.access", "urllib3", "py.warnings")


class ScalerJsonFormatter(JsonFormatter):
    """``{"level", "logger", "message", "time", ...extra}``; time is ISO 8601 UTC."""

    def __init__(self) -> None:
        super().__init__(FIELDS, style="{", rename_fields=RENAMED, timestamp="time")

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        message = log_data.get("message")
        if isinstance(message, str) and message.startswith("{"):
            try:
                fields = json.loads(message)
            except ValueError:
                return
            if isinstance(fields, dict):
                del log_data["message"]
                for key, value in fields.items():
                    log_data.setdefault(key, value)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every logger's records, as JSON lines, to ``stream`` (default stdout).

    Replaces the root logger's handlers and makes the libraries that install their own
    (uvicorn) propagate to it instead, so no plain-text line reaches stderr.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(ScalerJsonFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in THIRD_PARTY:
        lib = logging.getLogger(name)
        for old in lib.handlers[:]:
            lib.removeHandler(old)
        lib.propagate = True
    logging.captureWarnings(True)


class RateLimitedLog:
    """At most one record per ``key`` every ``interval_s`` seconds; the next one that
    gets through says how many were suppressed in between (``suppressed``). And at
    most ``max_per_s`` records a second over all keys (a second's burst): beyond it
    records are dropped and counted, and the next one logged says how many
    (``suppressed_other_keys``).

    Used for events a client can trigger at will (rejected RPCs), so a misconfigured
    ScaledObject polled every few seconds cannot flood the log, nor can thousands of
    new ones (object churn), whose every first rejection is a new key.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 60.0,
        clock: Any = time.monotonic,
        max_keys: int = 1024,
        max_per_s: float = 10.0,
    ) -> None:
        self._log = logger
        self._interval_s = interval_s
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._rate = max_per_s
        self._tokens = max_per_s
        self._filled = clock()
        self._dropped = 0

    def warning(self, key: str, fields: dict[str, Any]) -> bool:
        """Log ``fields`` as one JSON record unless ``key`` was logged recently.
        Returns whether it was logged."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._tokens = min(self._rate, self._tokens + (now - self._filled) * self._rate)
            self._filled = now
            if self._tokens < 1:
                self._dropped += 1
                return False
            self._tokens -= 1
            if key not in self._last and len(self._last) >= self._max_keys:
                oldest = min(self._last, key=self._last.__getitem__)
                del self._last[oldest]
                self._suppressed.pop(oldest, None)
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
            dropped, self._dropped = self._dropped, 0
        record = {**fields, "suppressed": suppressed}
        if dropped:
            record["suppressed_other_keys"] = dropped
        self._log.warning(json.dumps(record, default=str))
        return True
