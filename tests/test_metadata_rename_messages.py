"""A renamed guardrail key is named in the error the server sends KEDA: the bounds
message is built from the schema, so renaming ``minReplicas`` (the one edit
``tests/test_metadata.py`` makes, in a fresh interpreter as a code edit would) renames
it in the message too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RENAME_AND_BREAK_THE_BOUNDS = """
from policies import Guardrails

field = Guardrails.model_fields["min_replicas"]  # the one edit: the field's key
field.alias = field.validation_alias = field.serialization_alias = "minReplicaCount"
Guardrails.model_rebuild(force=True)

from scaler import metadata

metadata.RENAMED_COMMON_FIELDS["minReplicas"] = "min_replicas"  # plus one entry
try:
    metadata.parse_metadata("so", "ns", {"minReplicaCount": "5", "maxReplicas": "2"})
except metadata.MetadataError as exc:
    message = str(exc)
else:
    raise SystemExit("max below min was accepted")
assert "maxReplicas (2) must be ≥ minReplicaCount (5)" in message, message
assert "minReplicas " not in message and "minReplicas)" not in message, message
help_text = Guardrails.model_json_schema(by_alias=True)["properties"]["maxReplicas"]
assert help_text["description"].endswith("(≥ minReplicaCount)."), help_text
print("ok")
"""


def test_a_renamed_bound_is_named_in_the_bounds_error() -> None:
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", RENAME_AND_BREAK_THE_BOUNDS],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr
