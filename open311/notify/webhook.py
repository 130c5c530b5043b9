"""Sending one webhook delivery: a signed JSON POST, and what came of it.

Errors are described in a few fixed words (a status code, "timeout", "connection failed"): the
receiver's URL may carry credentials of its own and its answer may say anything, so neither is
stored or logged.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

import requests

from open311.db.models import Delivery, OutboxEvent, WebhookSubscription
from open311.wire import webhooks as wire


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    error: str | None = None
    # Retrying cannot help (no such subscription any more, no address): park at once.
    permanent: bool = False


def signed_request(
    delivery: Delivery, event: OutboxEvent, secret: str, now: datetime
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt; the timestamp is the attempt's."""
    timestamp = int(now.timestamp())
    content = wire.body(
        event.payload, delivery_id=delivery.delivery_id, kind=event.kind, timestamp=timestamp
    )
    headers = wire.headers(
        delivery_id=delivery.delivery_id,
        kind=event.kind,
        timestamp=timestamp,
        signed=wire.signature(secret, content),
    )
    return content, headers


# An answer this short is read (and ignored), so its connection goes back to the pool for the
# next delivery to the same host; a longer or unsized one is not read: its connection is closed.
ANSWER_KEPT_BYTES = 64 * 1024


def _finish(response: requests.Response) -> None:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= ANSWER_KEPT_BYTES:
        with contextlib.suppress(requests.RequestException):
            response.content  # noqa: B018 (reading it is the point: the connection is reused)
    response.close()


def send(
    http: requests.Session,
    delivery: Delivery,
    subscription: WebhookSubscription,
    *,
    timeout_s: float,
    now: datetime,
) -> Outcome:
    """POST the delivery to its subscription's URL; only a 2xx answer counts as delivered.
    Redirects are not followed (a 3xx is a failure): the URL was checked when subscribing, its
    redirect target was not."""
    content, headers = signed_request(delivery, delivery.event, subscription.secret, now)
    try:
        response = http.post(
            subscription.url,
            data=content,
            headers=headers,
            timeout=timeout_s,
            allow_redirects=False,
            # The answer's body is never read: a receiver cannot make the worker download much.
            stream=True,
        )
    except requests.Timeout:
        return Outcome(False, error="timeout")
    except requests.ConnectionError:
        return Outcome(False, error="connection failed")
    except requests.RequestException as error:
        return Outcome(False, error=f"request failed ({type(error).__name__})")
    _finish(response)
    if 200 <= response.status_code < 300:
        return Outcome(True, status=response.status_code)
    return Outcome(False, status=response.status_code, error=f"HTTP {response.status_code}")
