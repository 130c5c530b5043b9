"""`open311 worker`: delivers the outbox (webhooks, e-mail) (issue 6)."""

from __future__ import annotations

import click


@click.command("worker")
def worker() -> None:
    """Deliver pending webhooks and e-mails until stopped (several workers may run at once)."""
    raise click.ClickException("the worker is being built")
