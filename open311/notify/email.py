"""E-mail to requesters (issue 6): templates and SMTP sending for `open311 worker`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from open311.config import Settings
from open311.db.models import Delivery


def send(session: Session, delivery: Delivery, settings: Settings) -> None:
    """Send the e-mail `delivery` stands for; raise on failure (the worker retries)."""
    raise NotImplementedError("e-mail delivery is being built")
