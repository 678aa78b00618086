"""gRPC stubs generated from ``proto/externalscaler.proto`` (KEDA's external-scaler protocol).

They live inside ``scaler`` so the wheel installs no top-level ``proto`` package, which is
also the import name of ``proto-plus`` (a dependency of the google-cloud libraries).
Regenerate with ``make proto`` (``python -m scaler.protogen``).
"""
