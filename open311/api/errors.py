"""One table from what went wrong to (HTTP status, message), rendered as GeoReport errors."""

from __future__ import annotations

import logging

from flask import Response, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from open311 import i18n
from open311.api import database
from open311.api.locales import accepted
from open311.db.session import (
    FAILURES,
    describe_failure,
    failure_text,
    is_timeout,
    is_unavailable,
    is_unique_violation,
)
from open311.errors import (
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InvalidApiKey,
    InvalidInput,
    NotFound,
    Open311Error,
    RateLimited,
    Unauthenticated,
)
from open311.i18n import _
from open311.wire.formats import CONTENT_TYPES, FORMATS, error_payload, render

log = logging.getLogger(__name__)

DOMAIN_STATUS: list[tuple[type[Open311Error], int]] = [
    (InvalidInput, 400),
    (InvalidApiKey, 403),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (RateLimited, 429),
    (IdempotencyKeyReused, 422),
]

# Safe wording for HTTP-level failures; werkzeug's own descriptions mention HTML and servers.
HTTP_MESSAGES = {
    400: _("the request could not be understood"),
    404: _("no such resource; GeoReport resources end in .json or .xml"),
    405: _("method not allowed on this resource"),
    413: _("the request body is too large"),
    415: _(
        "unsupported content type; send application/x-www-form-urlencoded, "
        "multipart/form-data or application/json"
    ),
}


def requested_format() -> str:
    """The format the client asked for, or XML (the spec's mandatory one) when none can be told."""
    fmt = g.get("fmt")
    if fmt in FORMATS:
        return fmt
    if request.path.startswith("/api/"):
        return "json"  # the staff API speaks JSON only
    suffix = request.path.rsplit(".", 1)[-1] if "." in request.path else ""
    return suffix if suffix in FORMATS else "xml"


def _wants_page() -> bool:
    """A browser that lost its way outside the APIs (a mistyped /staff/... link) gets a page:
    no format was chosen, the path is no API's, and HTML is what it accepts first."""
    if g.get("fmt") or request.path.startswith(("/api/", "/open311/")) or "." in request.path:
        return False
    accept = request.accept_mimetypes  # a browser prefers HTML; */* (curl, a client) does not
    return accept.quality("text/html") > accept.quality("application/xml")


def error_locale() -> str:
    """The language errors are told in: the `locale` parameter, else Accept-Language, of the
    languages the server's texts are written in (es-MX -> es), else English. No jurisdiction
    is needed: an error may be that there is none."""
    asked = request.args.get("locale")
    return i18n.negotiate(asked, accepted(), i18n.server_locales(), i18n.SOURCE_LOCALE)


def error_response(status: int, problems: list[str]) -> Response:
    if g.get("fmt") == "html" or _wants_page():  # a page (web.pages.html_error)
        return current_app.extensions["open311.html_errors"](status, problems)
    fmt = requested_format()
    locale = error_locale()
    said = [(status, i18n.translate(problem, locale)) for problem in problems]
    body = render(error_payload(said), fmt, "errors")
    response = Response(body, status=status, content_type=CONTENT_TYPES[fmt])
    response.headers["Content-Language"] = locale
    return response


def handle_domain_error(error: Open311Error) -> Response:
    status = next(code for cls, code in DOMAIN_STATUS if isinstance(error, cls))
    response = error_response(status, list(error.problems))
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="open311 staff"'
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    message = getattr(error, "open311_message", None) or HTTP_MESSAGES.get(status, error.name)
    response = error_response(status, [message])
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response


def handle_unexpected(error: Exception) -> Response:
    # The traceback goes to the log; the client learns only that it was our fault. A database
    # error's own text may quote the row (a requester's e-mail): failure_text leaves it out.
    if isinstance(error, FAILURES):
        log.error("unhandled error on %s %s: %s", request.method, request.path, failure_text(error))
    else:
        log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, [_("internal server error")])


# Seconds a client is asked to wait before trying again when the database was the problem: a
# restarted server takes a few to accept connections, a loaded one a few to catch up.
RETRY_AFTER_S = 5


def handle_database_error(error: Exception) -> Response:
    """A database failure the client can act on is a 503 with Retry-After, never a 500: the
    database restarted or cannot be reached (a read that met a dropped connection is run
    again instead, see database.RetryReads), or a statement ran past statement_timeout (a
    query too broad for the time allowed: narrowing it helps, so does trying later)."""
    if is_unavailable(error, database.engine()):
        database.drop_connections()
        if database.retry_read(error):
            return error_response(503, [_("the database connection was lost")])  # not sent
        log.warning("database unavailable on %s %s: %s", request.method, request.path, error)
        problem = _("the database is unavailable for a moment; try again shortly")
    elif is_unique_violation(error) and request.path.startswith("/api/"):
        # A staff creation whose code or name was free when it looked, taken by another at the
        # same moment: a 409, as for one taken before (errors.Conflict), not a 500. Nothing was
        # stored. (GeoReport's unique keys are the server's own random names: a clash there is
        # the server's fault, a 500.)
        log.info("conflict on %s %s: %s", request.method, request.path, describe_failure(error))
        return error_response(409, [_("that exists already: it was created at the same moment")])
    elif is_timeout(error):
        log.warning("statement timeout on %s %s", request.method, request.path)
        problem = _(
            "the query took too long and was cancelled; narrow it (a smaller area, window or "
            "page_size, fewer words in q) or try again later"
        )
    else:
        return handle_unexpected(error)
    response = error_response(503, [problem])
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response
