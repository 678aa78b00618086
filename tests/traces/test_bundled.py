"""The third-party traces copied into the repository are unchanged and keep their notice."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

TRACES = Path(__file__).resolve().parents[2] / "simulations" / "traces"


def test_every_azure_copy_matches_the_sha256_its_notice_records() -> None:
    notice = (TRACES / "NOTICE.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \|.*\| ([0-9a-f]{64}) \| (CC-BY-4\.0) \|$", notice, re.M)
    assert {name for name, _, _ in rows} == {p.name for p in TRACES.glob("azure2023_*")}
    assert len(rows) == 2
    for name, sha, _ in rows:
        assert hashlib.sha256((TRACES / name).read_bytes()).hexdigest() == sha, name
    assert "Patel et al., ISCA 2024" in notice
    assert "creativecommons.org/licenses/by/4.0" in notice


def test_keda_crd_copy_ships_with_its_apache_licence() -> None:
    ref = Path(__file__).resolve().parents[1] / "reference"
    assert "Apache License" in (ref / "LICENSE-keda").read_text(encoding="utf-8")
    assert "LICENSE-keda" in (ref / "README.md").read_text(encoding="utf-8")
    assert "name: scaledobjects.keda.sh" in (ref / "keda-scaledobject-crd.yaml").read_text()
