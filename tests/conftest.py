"""Shared fixtures. Fixtures that start real parts (Prometheus, Triton) live in
``tests/realparts/fixtures.py``."""

pytest_plugins = ["tests.realparts.fixtures"]
