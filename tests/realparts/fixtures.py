"""Fixtures that start real Prometheus and Triton servers on loopback."""
