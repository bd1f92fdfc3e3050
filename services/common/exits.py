"""How a `kmt` command stops with a reason: the Dutch message on stderr, and the exit code."""

from __future__ import annotations

import typer


def fail(code: int, message: str) -> typer.Exit:
    """Say `message` on stderr; the exit (with `code`) for the caller to raise."""
    typer.echo(message, err=True)
    return typer.Exit(code)
