"""Load traces: reading files, rescaling them, and generating synthetic LIGO-like days."""

from scaler.traces.model import Trace

__all__ = ["Trace"]
