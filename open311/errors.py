"""Domain errors: what went wrong, in words a client may show; the API edge maps them to HTTP."""

from __future__ import annotations

from open311.i18n import _


class Open311Error(Exception):
    """Base of every error the API reports to a client; `problems` may hold several messages."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems: tuple[str, ...] = problems or (self.default_message,)

    default_message = _("the request could not be processed")


class InvalidInput(Open311Error):
    """A missing, malformed or out-of-range argument (GeoReport: 400)."""


class InvalidApiKey(Open311Error):
    """Missing, unknown or disabled api_key (GeoReport: 403)."""

    default_message = _("api_key missing or not recognised")


class Unauthenticated(Open311Error):
    """Staff API: no bearer token, or one unknown, expired or revoked (HTTP 401)."""

    default_message = _("authentication required")


class Forbidden(Open311Error):
    """Staff API: the user's role or crews do not allow this (HTTP 403)."""

    default_message = _("not allowed")


class NotFound(Open311Error):
    """An unknown service_code, service_request_id, token or jurisdiction_id (GeoReport: 404)."""

    default_message = _("not found")


class Conflict(Open311Error):
    """What the client asks to create exists already (HTTP 409): the request was well formed,
    so it is not a 400, and sending it again will not help until the other one is gone."""

    default_message = _("that exists already")


class IdempotencyKeyReused(Open311Error):
    """An Idempotency-Key sent again with another body (HTTP 422, as the IETF httpapi draft
    says): the first answer belongs to the first body, so neither is given."""

    default_message = _("Idempotency-Key was already used for a different request")


class RateLimited(Open311Error):
    """Too many calls of one client, address or username in a window (HTTP 429): the call was
    not carried out, and may be made again after `retry_after_s` seconds."""

    default_message = _("too many requests; try again later")

    def __init__(self, *problems: str, retry_after_s: int) -> None:
        super().__init__(*problems)
        self.retry_after_s = retry_after_s


class UnknownService(NotFound):
    pass


class UnknownRequest(NotFound):
    pass


class UnknownToken(NotFound):
    pass


class UnknownJurisdiction(NotFound):
    pass
