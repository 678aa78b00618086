"""An example sonic-scaler policy plug-in (see README.md)."""

from sonic_scaler_example.policy import OngoingRequestsParams, OngoingRequestsPolicy

__all__ = ["OngoingRequestsParams", "OngoingRequestsPolicy"]
