"""E-mail to requesters: one Delivery made into a message and handed to SMTP.

`open311 worker` composes the message of a delivery of the e-mail channel (when
OPEN311_SMTP_HOST is set) while claiming it, and transmits it once that transaction is committed.
The address and language are read from Requester when the delivery is claimed for an attempt,
not when it was queued: a requester whose data was removed in between is not written to. The
message says only what the city wrote (messages.Facts), never text a client sent.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from open311 import clock
from open311.config import Settings
from open311.db import email_queries
from open311.db.models import Activity, Delivery, Jurisdiction, Requester, ServiceRequest
from open311.notify import deadline, messages
from open311.values import DeliveryChannel, EmailTemplate, Status
from open311.wire.georeport import request_url


class PermanentFailure(Exception):
    """This delivery can never be sent (no e-mail address any more, no such template): retrying
    cannot help, so the worker should park it at once rather than back off and try again."""


class Suppressed(PermanentFailure):
    """The recipient has had OPEN311_EMAILS_PER_RECIPIENT_PER_DAY e-mails in the last 24 hours:
    this one is not sent (parked, for staff to see; replaying it later checks again)."""

    reason = "suppressed: the recipient's daily e-mail limit is reached"


class Refused(smtplib.SMTPResponseException):
    """The SMTP server refused the message. Its reply is kept with the recipient's address taken
    out, since the worker stores the error where administrators and logs see it."""

    @property
    def permanent(self) -> bool:
        """A 5xx reply: the server says trying again will not help (4xx: try later)."""
        return self.smtp_code >= 500

    def __str__(self) -> str:
        return f"SMTP {self.smtp_code}: {self.smtp_error}"


def send(session: Session, delivery: Delivery, settings: Settings) -> None:
    """Send the e-mail `delivery` stands for, or raise: PermanentFailure when it never can be,
    Refused when the server said no, OSError (timeouts included) or another
    smtplib.SMTPException when it could not be reached or broke off. Writes nothing. (The
    worker calls compose and transmit apart, so that no transaction is open while it waits for
    the server.)"""
    message = compose(session, delivery, settings)
    transmit(message, settings)


def compose(
    session: Session, delivery: Delivery, settings: Settings, now: datetime | None = None
) -> EmailMessage:
    """The message for `delivery`, in the requester's language, to their current address."""
    if delivery.channel != DeliveryChannel.email:
        raise PermanentFailure(f"delivery {delivery.delivery_id} is not an e-mail")
    if delivery.template not in messages.TEMPLATES:
        raise PermanentFailure(f"delivery {delivery.delivery_id}: no template {delivery.template}")
    event = delivery.event
    # populate_existing: a worker's long-lived session must see the rows as they are now.
    request = session.get(ServiceRequest, event.service_request_pk, populate_existing=True)
    requester = request.requester if request is not None else None
    if requester is not None:
        requester = session.get(Requester, requester.id, populate_existing=True)
    if request is None or requester is None or not requester.email:
        raise PermanentFailure(
            f"delivery {delivery.delivery_id}: the requester has no e-mail address any more"
        )
    now = now or clock.now()
    _within_daily_limit(session, delivery, requester.email, settings, now)
    activity = session.get(Activity, event.activity_id) if event.activity_id else None
    facts = _facts(session, request, activity, delivery.template, settings)
    rendered = messages.render(delivery.template, requester.language, facts)

    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = requester.email
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(now)
    # The same id on every attempt, so a retry after a lost reply shows as the same message.
    message["Message-ID"] = f"<{delivery.delivery_id}@{_domain(settings.smtp_from)}>"
    # RFC 3834: no vacation replies or bounces to auto-responders; Exchange reads its own header.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(rendered.body, charset="utf-8", cte="quoted-printable")
    # After set_content, which drops every Content-* header it finds.
    message["Content-Language"] = rendered.language
    return message


def _within_daily_limit(
    session: Session, delivery: Delivery, address: str, settings: Settings, now: datetime
) -> None:
    """Raise Suppressed when `address` has had its day's e-mails. Anyone with an API key can
    file requests giving any address: without a limit the city's mail server would write to it
    as often as they like. Counted in PostgreSQL under a lock keyed by a hash of the address,
    so two workers cannot both send the last one allowed."""
    email_queries.lock_recipient(session, address)
    sent = email_queries.count_emails_to(
        session, address, since=now - timedelta(days=1), now=now, besides=delivery.id
    )
    if sent >= settings.emails_per_recipient_per_day:
        raise Suppressed(f"delivery {delivery.delivery_id}: {Suppressed.reason}")


class _SMTP(smtplib.SMTP):
    """smtplib's client on deadline sockets: a server that answers a byte at a time cannot
    hold the worker beyond the deadline of transmit()."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return deadline.adopt(super()._get_socket(host, port, timeout))


def transmit(message: EmailMessage, settings: Settings, timeout: float | None = None) -> None:
    """Hand `message` to the configured server: STARTTLS when asked (verifying the server's
    certificate), AUTH when a user is set. Raises unless the server accepted it.

    Connecting, the conversation and the upload together take at most `timeout` seconds (by
    default OPEN311_SMTP_TIMEOUT_S); past it this raises deadline.DeadlineExceeded, a
    TimeoutError. Once the server has accepted the message nothing raises: a QUIT that goes
    unanswered must not make the worker send the message again."""
    recipient = str(message["To"])
    timeout = settings.smtp_timeout_s if timeout is None else timeout
    with deadline.within(timeout):
        try:
            _converse(message, settings, timeout)
        except smtplib.SMTPRecipientsRefused as error:
            # One recipient: refused means refused outright. Its reply names the address.
            code, reply = next(iter(error.recipients.values()), (550, b"recipient refused"))
            raise Refused(code, _scrub(reply, recipient)) from None
        except smtplib.SMTPResponseException as error:
            raise Refused(error.smtp_code, _scrub(error.smtp_error, recipient)) from None
        except (smtplib.SMTPException, OSError):
            # smtplib reports a reply that ran out of time as a lost connection: say which.
            if deadline.passed():
                raise deadline.DeadlineExceeded(f"no answer within {timeout:g} s") from None
            raise


def _converse(message: EmailMessage, settings: Settings, timeout: float) -> None:
    smtp = _SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        if settings.smtp_starttls:
            smtp.starttls(context=deadline.tls_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
        smtp.close()


def _facts(
    session: Session,
    request: ServiceRequest,
    activity: Activity | None,
    template: str,
    settings: Settings,
) -> messages.Facts:
    jurisdiction = session.get(Jurisdiction, request.jurisdiction_id)
    zone = _zone(jurisdiction.time_zone if jurisdiction else "UTC")
    closing = template == EmailTemplate.closed
    update_status = None
    if closing:
        # The public update that closed it (fixed, duplicate, ...); else plainly closed.
        update_status = activity.status if activity is not None and activity.status else None
        update_status = update_status or Status.closed.value
    return messages.Facts(
        service_request_id=request.service_request_id,
        service_name=request.service.service_name,
        received_at=request.requested_datetime.astimezone(zone),
        closed_at=(activity.at if activity else request.updated_datetime).astimezone(zone)
        if closing
        else None,
        update_status=update_status,
        status_notes=request.status_notes if closing else None,
        link=_link(settings.public_url, request, jurisdiction),
    )


def _link(public_url: str, request: ServiceRequest, jurisdiction: Jurisdiction | None) -> str:
    """The public JSON of the request under the advertised endpoint (OPEN311_PUBLIC_URL, which
    ends in /open311/v2), or nothing when we do not know our public address."""
    if not public_url:
        return ""
    jurisdiction_id = jurisdiction.jurisdiction_id if jurisdiction is not None else None
    return request_url(public_url, request.service_request_id, jurisdiction_id)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


def _scrub(reply: bytes | str, recipient: str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    if recipient:
        text = re.sub(re.escape(recipient), "<recipient>", text, flags=re.IGNORECASE)
    return " ".join(text.split())[:500]
