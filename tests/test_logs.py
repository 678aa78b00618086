"""Every log line is one JSON object on stdout, whoever logs it; rate-limited records."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scaler.logs import RateLimitedLog, ScalerJsonFormatter, configure_logging

ROOT = Path(__file__).resolve().parents[1]


def _format(msg: str, *args: Any, **kw: Any) -> dict[str, Any]:
    record = logging.LogRecord("scaler.x", logging.WARNING, __file__, 1, msg, args, None, **kw)
    out: dict[str, Any] = json.loads(ScalerJsonFormatter().format(record))
    return out


def test_a_record_is_one_json_object_with_level_logger_time_and_message() -> None:
    line = _format("serving on %s", "0.0.0.0:9100")
    assert line["level"] == "WARNING"
    assert line["logger"] == "scaler.x"
    assert line["message"] == "serving on 0.0.0.0:9100"
    assert line["time"].endswith("+00:00")


def test_a_json_message_has_its_fields_lifted_not_quoted() -> None:
    line = _format(json.dumps({"event": "decision", "object": "ns/so", "replicas": 3}))
    assert line["event"] == "decision" and line["replicas"] == 3
    assert "message" not in line
    assert line["level"] == "WARNING", "a message field cannot hide the record's level"
    assert _format('{"level": "DEBUG"}')["level"] == "WARNING"
    assert _format("{not json")["message"] == "{not json"


def test_an_exception_stays_on_one_line() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.logs.exc")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ScalerJsonFormatter())
    logger.addHandler(handler)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "ValueError: boom" in json.loads(lines[0])["exc_info"]


def test_uvicorn_urllib3_warnings_and_the_scaler_all_log_json_to_stdout() -> None:
    code = """
import logging, logging.config, warnings
import uvicorn.config, urllib3
from urllib3.util.retry import Retry
logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)  # uvicorn's own stderr handlers
from scaler.logs import configure_logging
configure_logging("INFO")
logging.getLogger("scaler.server").info("started")
logging.getLogger("uvicorn.error").warning("uvicorn says hi")
warnings.warn("deprecated thing")
try:
    urllib3.PoolManager().request("GET", "http://127.0.0.1:9/", retries=Retry(connect=1))
except urllib3.exceptions.MaxRetryError:
    pass
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    by_logger = {line["logger"]: line for line in lines}
    assert by_logger["scaler.server"]["message"] == "started"
    assert by_logger["uvicorn.error"]["message"] == "uvicorn says hi"
    assert "deprecated thing" in by_logger["py.warnings"]["message"]
    assert "Retrying" in by_logger["urllib3.connectionpool"]["message"]


def test_configure_logging_replaces_earlier_handlers() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        stream = io.StringIO()
        configure_logging("warning", stream)
        configure_logging("warning", stream)
        logging.getLogger("scaler.test").warning("once")
        assert len(stream.getvalue().splitlines()) == 1
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_rate_limited_log_keeps_one_line_per_key_and_interval_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("scaler.rpc.test"), interval_s=60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="scaler.rpc.test"):
        assert limited.warning("a", {"event": "x"})
        assert not limited.warning("a", {"event": "x"})
        assert not limited.warning("a", {"event": "x"})
        assert limited.warning("b", {"event": "y"})
        clock.t = 61
        assert limited.warning("a", {"event": "x"})
    logged = [json.loads(r.getMessage()) for r in caplog.records]
    assert [(r["event"], r["suppressed"]) for r in logged] == [("x", 0), ("y", 0), ("x", 2)]


def test_rate_limited_log_forgets_the_oldest_key_beyond_its_bound() -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("scaler.rpc.bound"), clock=clock, max_keys=2)
    for key in ("a", "b", "c"):
        clock.t += 1
        assert limited.warning(key, {})
    assert limited.warning("a", {}), "a was forgotten, so it logs again"


def test_rate_limited_log_caps_lines_over_all_keys_and_says_how_many_it_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Churn: every new object's first rejection is a new key; the log stays at
    ``max_per_s`` lines a second and the next line counts the dropped ones."""
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("scaler.rpc.cap"), clock=clock, max_per_s=5)
    with caplog.at_level(logging.WARNING, logger="scaler.rpc.cap"):
        logged = [limited.warning(f"object-{i}", {"i": i}) for i in range(100)]
        clock.t = 1.0
        assert limited.warning("later", {"i": "later"})
    assert logged.count(True) == 5
    lines = [json.loads(r.getMessage()) for r in caplog.records]
    assert len(lines) == 6
    assert lines[-1]["suppressed_other_keys"] == 95
    assert "suppressed_other_keys" not in lines[0]
