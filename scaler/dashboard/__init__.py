"""The tuning dashboard: watch decisions, replay traffic through a candidate, apply it."""
