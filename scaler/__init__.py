"""sonic-scaler: the KEDA external scaler, simulator and dashboard for GPU inference fleets."""

__version__ = "0.1.0"
