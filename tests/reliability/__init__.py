"""Reliability: fuzzers and fault tests that assert clean errors, never tracebacks."""
