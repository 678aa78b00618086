"""A Prometheus HTTP API double whose answers a test switches between fault modes.

Fault injection needs answers a real Prometheus will not give on demand (NaN,
1e308, a day-old timestamp, a 500, a hang, garbage), so the reliability tests use
this; the observer's normal behaviour is tested against a real Prometheus in
``tests/test_prometheus_observer.py``.

Healthy answers: 3 ready replicas, 100 ms of queue per request, 60 req/s, and the
same value for every other signal (0.5); timestamps are the server's clock.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests

FAULTS = (
    "ok",
    "empty",
    "nan",
    "inf",
    "absurd",
    "absurd_ready",
    "negative_ready",
    "stale",
    "several",
    "http_500",
    "http_503_html",
    "status_error",
    "malformed_json",
    "wrong_shape",
    "bad_sample",
    "hang",
    "refused",
    "http_401",
    "http_403",
    "http_429",
    "partial",
    "slow",
)
"""Every mode the fault matrix runs (``refused``: the server stops listening;
``http_429`` answers with a ``Retry-After`` of :attr:`FakePrometheus.retry_after_s`;
``partial``: the queue-time queries answer 500, every other query succeeds; ``slow``:
healthy answers after :attr:`FakePrometheus.slow_s`, within the scaler's timeout)."""


def _value_for(query: str, fault: str) -> str:
    ready = query.startswith("count(")
    if fault == "nan":
        return "NaN"
    if fault == "inf":
        return "+Inf"
    if fault == "absurd":
        return "3" if ready else "1e308"
    if fault == "absurd_ready":
        return "1e300" if ready else "100"
    if fault == "negative_ready":
        return "-2" if ready else "100"
    if ready:
        return "3"
    if "queue_duration" in query and "request_success" in query:
        return "100"
    if query.startswith("sum(rate(nv_inference_request_success"):
        return "60"
    return "0.5"


class FakePrometheus:
    """Start with :meth:`start`; set :attr:`fault`; :attr:`queries` counts requests."""

    def __init__(self, hang_s: float = 10.0) -> None:
        self.fault = "ok"
        self.queries = 0
        self.range_queries = 0
        self.hang_s = hang_s
        self.slow_s = 0.2
        self.retry_after_s = 30
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakePrometheus:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.queries += 1
                u = urlparse(self.path)
                if u.path.endswith("query_range"):
                    fake.range_queries += 1
                params = {k: v[0] for k, v in parse_qs(u.query).items()}
                status, body, kind = fake.answer(u.path, params)
                if status == 0:
                    return
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", str(fake.retry_after_s))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> FakePrometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def set_fault(self, fault: str) -> None:
        """Switch mode; ``refused`` closes the socket, any other mode reopens it."""
        if fault == "refused":
            self.stop()
        elif self._server is None:
            self.start()
        self.fault = fault

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, str, str]:
        fault = self.fault
        query = params.get("query", "")
        now = time.time()
        if fault == "hang":
            time.sleep(self.hang_s)
            return 0, "", ""
        if fault == "slow":
            time.sleep(self.slow_s)
            fault = "ok"
        if fault == "http_500" or (fault == "partial" and "queue_duration" in query):
            return 500, '{"status":"error","error":"internal"}', "application/json"
        if fault in ("http_401", "http_403"):
            return int(fault[-3:]), "Unauthorized\n", "text/plain"
        if fault == "http_429":
            body = {"status": "error", "errorType": "too_many_requests", "error": "slow down"}
            return 429, json.dumps(body), "application/json"
        if fault == "http_503_html":
            return 503, "<html>upstream unavailable</html>", "text/html"
        if fault == "status_error":
            body = {"status": "error", "errorType": "bad_data", "error": "parse error"}
            return 400, json.dumps(body), "application/json"
        if fault == "malformed_json":
            return 200, '{"status":"success","data":', "application/json"
        if fault == "wrong_shape":
            body = {"status": "success", "data": {"resultType": "vector", "result": {"x": 1}}}
            return 200, json.dumps(body), "application/json"
        ranged = path.endswith("query_range")
        if fault == "empty" or (fault == "stale" and ranged):
            result: list[Any] = []  # a day-old series has no samples in a recent range
        elif fault == "bad_sample":
            result = [{"metric": {}, "value": ["not-a-time"]}]
        else:
            ts = now - 86_400 if fault == "stale" else now
            value = _value_for(query, fault)
            if ranged:
                start, end = float(params["start"]), float(params["end"])
                step = float(params["step"])
                points = [[start + k * step, value] for k in range(int((end - start) / step) + 1)]
                series: dict[str, Any] = {"metric": {}, "values": points}
            else:
                series = {"metric": {}, "value": [ts, value]}
            result = [series, {"metric": {"x": "2"}, **series}] if fault == "several" else [series]
        kind = "matrix" if ranged else "vector"
        body = {"status": "success", "data": {"resultType": kind, "result": result}}
        return 200, json.dumps(body), "application/json"


class InProcessSession(requests.Session):
    """A ``requests`` session answered by a :class:`FakePrometheus`'s :meth:`~FakePrometheus.answer`
    without a socket (the fake need not be started): for tests sending thousands of
    queries through the real observer, where HTTP would cost more CPU than the test
    means to spend. :attr:`queries` lists every query sent, in order."""

    def __init__(self, fake: FakePrometheus) -> None:
        super().__init__()
        self.fake = fake
        self.queries: list[str] = []
        self._lock = threading.Lock()

    def request(  # type: ignore[override]
        self, method: str, url: str, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> requests.Response:
        given = {k: str(v) for k, v in (params or {}).items()}
        with self._lock:
            self.queries.append(given.get("query", ""))
            self.fake.queries += 1
        status, body, kind = self.fake.answer(urlparse(url).path, given)
        response = requests.Response()
        response.status_code = status
        response._content = body.encode()
        response.headers["Content-Type"] = kind
        if status == 429:
            response.headers["Retry-After"] = str(self.fake.retry_after_s)
        response.url = url
        return response


def main() -> None:
    """``python -m tests.fake_prometheus [PORT]``: serve healthy answers until killed
    (bench/soak.py runs it in its own process); prints the port."""
    import sys

    fake = FakePrometheus()
    fake.port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    fake.start()
    print(fake.port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
