"""Tests of the tuning dashboard."""
