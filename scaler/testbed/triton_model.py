"""Child entry point: one real Triton server (nvidia-pytriton) serving a model whose
service time follows a chosen law.

``python -m scaler.testbed.triton_model --http-port P --metrics-port M --grpc-port G
--model NAME --base-ms A --per-item-ms B --max-batch N --max-queue-delay-us D``

Each batch of ``n`` items sleeps ``A + B*n`` milliseconds, and Triton's dynamic
batcher (waiting up to ``D`` µs to fill a batch of at most ``N``) puts real
queueing in front of it, so the ``nv_inference_*`` counters behave as on a GPU
server. The input ``x`` (FP32, shape ``[1]`` per item) is echoed as ``y``.

Must run on Debian's Python (the project venv): Triton's Python backend stub links
against its ``libpython``. SIGTERM or SIGINT stops Triton and cleans its workspace.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m scaler.testbed.triton_model", description=__doc__)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--model", default="model")
    p.add_argument("--base-ms", type=float, default=5.0, help="ms per batch, fixed part")
    p.add_argument("--per-item-ms", type=float, default=0.0, help="ms per batch item")
    p.add_argument("--max-batch", type=int, default=16)
    p.add_argument("--max-queue-delay-us", type=int, default=0)
    p.add_argument("--workspace", type=Path, default=None, help="pytriton workspace dir")
    p.add_argument("--host", default="127.0.0.1")
    args = p.parse_args(argv)
    if args.base_ms < 0 or args.per_item_ms < 0:
        p.error("--base-ms and --per-item-ms must be ≥ 0")
    if args.max_batch < 1:
        p.error("--max-batch must be ≥ 1")
    if args.max_queue_delay_us < 0:
        p.error("--max-queue-delay-us must be ≥ 0")
    return args


def make_infer(base_ms: float, per_item_ms: float) -> Any:
    """The inference callable: one call per batch, a list of requests in and out."""

    def infer(requests: list[Any]) -> list[dict[str, Any]]:
        items = sum(int(r["x"].shape[0]) for r in requests)
        time.sleep((base_ms + per_item_ms * items) / 1000.0)
        return [{"y": np.asarray(r["x"], dtype=np.float32)} for r in requests]

    return infer


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    signal.signal(signal.SIGTERM, _stop)
    config = TritonConfig(
        http_address=args.host,
        http_port=args.http_port,
        grpc_address=args.host,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        allow_gpu_metrics=False,
        log_verbose=0,
        exit_timeout_secs=3,
    )
    workspace = str(args.workspace) if args.workspace is not None else None
    try:
        with Triton(config=config, workspace=workspace) as triton:
            triton.bind(
                model_name=args.model,
                infer_func=make_infer(args.base_ms, args.per_item_ms),
                inputs=[Tensor(name="x", dtype=np.float32, shape=(1,))],
                outputs=[Tensor(name="y", dtype=np.float32, shape=(1,))],
                config=ModelConfig(
                    max_batch_size=args.max_batch,
                    batcher=DynamicBatcher(max_queue_delay_microseconds=args.max_queue_delay_us),
                ),
                strict=False,
            )
            print(f"serving model {args.model!r} on http port {args.http_port}", flush=True)
            triton.serve()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
