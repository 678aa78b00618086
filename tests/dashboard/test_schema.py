"""Property-based run over the OpenAPI schema: whatever schemathesis sends, the
dashboard answers without a server error."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.dashboard.conftest import make_env

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402

_TMP = Path(tempfile.mkdtemp(prefix="dashboard-schema-"))
_ENV = make_env(_TMP)
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
atexit.register(_ENV.tracker.stop)
schema = schemathesis.openapi.from_asgi("/openapi.json", _ENV.client.app)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_makes_the_dashboard_fail(case: Any) -> None:
    if case.method.upper() in ("PUT", "DELETE", "POST"):
        case.headers = {**(case.headers or {}), "Authorization": "Bearer s3cret-token"}
    case.call_and_validate(checks=[not_a_server_error])
