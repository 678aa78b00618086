"""The README documents every setting and metadata key the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from policies import ThresholdParams
from scaler.metadata import COMMON_KEYS, policy_keys
from scaler.settings import ServerSettings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_metadata_key_is_in_the_readme_table() -> None:
    keys = COMMON_KEYS | policy_keys(ThresholdParams)
    missing = sorted(k for k in keys if f"| `{k}` |" not in README)
    assert not missing, f"README metadata table lacks {missing}"


def test_every_server_setting_is_in_the_readme() -> None:
    missing = [
        f"SCALER_{n.upper()}"
        for n in ServerSettings.model_fields
        if f"SCALER_{n.upper()}" not in README
    ]
    assert not missing, f"README settings table lacks {missing}"


def test_readme_gives_the_two_commands() -> None:
    assert "make run" in README
    assert "make test" in README


def test_the_readme_scaledobject_is_valid_for_keda_and_the_scaler() -> None:
    import jsonschema
    import yaml

    from scaler.metadata import parse_metadata

    block = README.split("### A complete ScaledObject", 1)[1].split("```yaml", 1)[1]
    so = yaml.safe_load(block.split("```", 1)[0])
    crd_path = Path(__file__).resolve().parent / "reference" / "keda-scaledobject-crd.yaml"
    crd = yaml.safe_load(crd_path.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.validate(so, schema)
    trigger = so["spec"]["triggers"][0]
    cfg = parse_metadata(so["metadata"]["name"], so["metadata"]["namespace"], trigger["metadata"])
    assert cfg.target_deployment == so["spec"]["scaleTargetRef"]["name"]


def test_the_simulated_readme_scaledobject_is_the_readme_block() -> None:
    import yaml

    from scaler.sim.scenario import load_scaled_object

    block = README.split("### A complete ScaledObject", 1)[1].split("```yaml", 1)[1]
    path = Path(__file__).resolve().parent.parent / "simulations/scenarios/readme-scaledobject.yaml"
    assert yaml.safe_load(path.read_text()) == yaml.safe_load(block.split("```", 1)[0])
    assert load_scaled_object(path).name == "supersonic-triton"


def test_make_run_simulates_the_readme_scaledobject_and_the_presets() -> None:
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "--scaled-object simulations/scenarios/readme-scaledobject.yaml" in run
    assert "--policy presets" in run


def test_the_renamed_keys_table_is_the_codes() -> None:
    from scaler.metadata import deprecated_keys

    section = README.split("### Renamed keys", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)`", section, re.M)
    assert dict(rows) == deprecated_keys()
