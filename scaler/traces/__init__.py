"""Load traces: reading files, rescaling them, and generating synthetic LIGO-like days."""

from scaler.traces.ligo import LigoParams, generate_ligo
from scaler.traces.loader import TraceError, load_trace
from scaler.traces.model import Trace
from scaler.traces.rescale import rescale
from scaler.traces.writer import write_trace_csv

__all__ = [
    "LigoParams",
    "Trace",
    "TraceError",
    "generate_ligo",
    "load_trace",
    "rescale",
    "write_trace_csv",
]
