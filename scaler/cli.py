"""The ``scaler`` command: serve, simulate, trace and friends."""

from __future__ import annotations

import typer

from scaler.commands import dashboard, serve, simulate, testbed, trace, tune

app = typer.Typer(
    name="scaler",
    help="Autoscale GPU inference servers (Triton) for KEDA: serve, simulate, tune.",
    no_args_is_help=True,
    add_completion=False,
    # Plain click help: it wraps at any width; rich's tables cut flag names at 80 columns.
    rich_markup_mode=None,
)

serve.register(app)
trace.register(app)
simulate.register(app)
testbed.register(app)
tune.register(app)
dashboard.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
