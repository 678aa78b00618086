"""``scaler serve``: run the KEDA external scaler (gRPC) and its /metrics."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve() -> None:
        """Run the KEDA external scaler."""
        raise typer.Exit(1)
