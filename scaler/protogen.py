"""Regenerate the committed gRPC stubs in ``scaler/keda_proto/`` from ``proto/*.proto``.

The stubs are committed so the package installs without grpcio-tools; a test
regenerates them into a temporary folder and fails if they drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent.parent / "proto"
STUB_DIR = Path(__file__).resolve().parent / "keda_proto"
PROTO_FILE = "externalscaler.proto"
GENERATED = ("externalscaler_pb2.py", "externalscaler_pb2.pyi", "externalscaler_pb2_grpc.py")


def generate(out_dir: Path) -> None:
    """Run protoc into ``out_dir`` and make the grpc stub import its sibling relatively."""
    from grpc_tools import protoc  # type: ignore[import-untyped]

    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(PROTO_DIR / PROTO_FILE),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {PROTO_DIR / PROTO_FILE}")
    grpc_file = out_dir / "externalscaler_pb2_grpc.py"
    text = grpc_file.read_text()
    grpc_file.write_text(
        text.replace("import externalscaler_pb2 as", "from . import externalscaler_pb2 as")
    )


def main() -> None:
    generate(STUB_DIR)
    print(f"regenerated {', '.join(GENERATED)} in {STUB_DIR}", file=sys.stderr)


if __name__ == "__main__":
    main()
