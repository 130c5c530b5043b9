"""What every page shares: its blueprint's hooks, its language, its headers, its errors.

A page blueprint (`page_blueprint`) answers in HTML: its errors are HTML pages in the reader's
language (api.errors asks `html_error` when `g.fmt` is "html"), every POST must carry the CSRF
token of the session (Flask-WTF's CSRFProtect, checked here rather than app-wide so that the
APIs, which take no cookie, are not asked for one), and every answer carries a
Content-Security-Policy that allows no inline script and no other host but the basemap's.

Views get their data through the same domain functions as the APIs, never a second set of rules;
templates get `_()` (the server's catalogues, i18n), `csrf_token()` and `page` (the locale, its
direction). Templates escape every value (autoescape, on for .html); nothing is marked safe but
the knowledge base's bodies, cleaned by nh3 when they were stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Request, Response, g, render_template, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect

from open311 import i18n
from open311.api import database, ratelimits
from open311.api.locales import accepted
from open311.config import Settings
from open311.i18n import Text, _

csrf = CSRFProtect()
LOCALE_KEY = "locale"  # the session's remembered choice of language


@dataclass(frozen=True)
class Page:
    """What the layout needs of the answer: its language and the direction it is written in."""

    locale: str
    direction: str
    locales: tuple[str, ...]


def page_blueprint(name: str, import_name: str, **kwargs: Any) -> Blueprint:
    """A blueprint of pages: HTML errors, a CSRF check on each write, the pages' headers."""
    blueprint = Blueprint(name, import_name, **kwargs)
    blueprint.before_request(_begin_page)
    blueprint.after_request(page_headers)
    return blueprint


def _begin_page() -> None:
    g.fmt = "html"
    ratelimits.limit_page()  # per address: a page takes no api_key
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


def page_locale() -> str:
    """The reader's language among the server's: `?locale=` (remembered in the session for the
    next pages), else the session's, else Accept-Language, else English."""
    asked = request.args.get("locale", "").strip() or None
    offered = i18n.server_locales()
    if asked:
        chosen = i18n.negotiate(asked, (), offered, i18n.SOURCE_LOCALE)
        if session.get(LOCALE_KEY) != chosen:
            session[LOCALE_KEY] = chosen
        return chosen
    remembered = session.get(LOCALE_KEY)
    if isinstance(remembered, str) and remembered in offered:
        return remembered
    return i18n.negotiate(None, accepted(), offered, i18n.SOURCE_LOCALE)


def current_page() -> Page:
    if "page" not in g:
        locale = page_locale()
        g.page = Page(locale, i18n.direction(locale), tuple(i18n.server_locales()))
        g.content_language = locale
    return g.page


def say(msgid: str, **params: Any) -> str:
    """A server text in the page's language (for views; templates call `_`)."""
    return i18n.translate(Text(msgid, params), current_page().locale)


def say_text(text: str) -> str:
    """A text already made (a domain error's problem, a marked constant) in the page's language."""
    return i18n.translate(text, current_page().locale)


def render(template: str, **context: Any) -> str:
    """`template` with the page's language, and the signed-in staff user (or None) as
    `staff_user` for the console's menu."""
    from open311.web.staff.access import signed_in_token

    in_console = (request.blueprint or "").startswith("console")
    token = signed_in_token() if in_console else None
    context.setdefault("staff_user", token.user if token is not None else None)
    return render_template(template, page=current_page(), **context)


def content_security_policy() -> str:
    """No inline script, no frames, no other host but the basemap's tiles. MapLibre's CSP build
    runs its worker from our own file (worker-src 'self'); blob: images are its decoded tiles."""
    basemap = database.settings().basemap_url
    tiles = ""
    if basemap:
        parts = urlsplit(basemap.replace("{", "").replace("}", ""))
        tiles = f" {parts.scheme}://{parts.netloc}"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{tiles}",
            f"connect-src 'self'{tiles}",
            "worker-src 'self' blob:",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy()
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"  # for browsers older than frame-ancestors
    response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("Cookie")
    return response


def html_error(status: int, problems: list[str]) -> Response:
    """An error of a page, as a page in the reader's language (api.errors.error_response hands
    it over for page blueprints, and for a browser lost outside the APIs)."""
    g.fmt = "html"
    page = current_page()
    said = [i18n.translate(problem, page.locale) for problem in problems]
    body = render_template("error.html", page=page, status=status, problems=said)
    response = Response(body, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Language"] = page.locale
    return page_headers(response)


def _expired_form(_error: CSRFError) -> Response:
    """A POST without the session's CSRF token: a form kept open too long, a lost cookie, or
    another site posting on the reader's behalf. Nothing was done."""
    problem = _(
        "This form has expired or did not come from this site: reload it and send it again."
    )
    return html_error(400, [problem])


class PageSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request came over TLS (directly or, with
    OPEN311_BEHIND_PROXY, by the proxy's X-Forwarded-Proto), so one setting fits both."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or bool(app.config.get("SESSION_COOKIE_SECURE"))

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """The key that signs the cookie and the CSRF tokens is read (or, the first time on
        this machine, made) by the first request, not when the app is built: a command such
        as `open311 db up` builds the app too, and must leave var/ alone."""
        if not app.secret_key:
            app.secret_key = Settings.from_config(app.config).resolved_secret_key()
        return super().open_session(app, request)


def _template_say(msgid: str, **params: Any) -> str:
    return i18n.translate(Text(msgid, params), current_page().locale)


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # pages check it, APIs never
    app.config.update(
        SESSION_COOKIE_NAME="open311_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.session_interface = PageSessions()
    # Templates of open311/web/templates, found by every page's render_template.
    app.register_blueprint(Blueprint("web", __name__, template_folder="templates"))
    csrf.init_app(app)
    app.jinja_env.globals["_"] = _template_say
    app.jinja_env.filters["language_name"] = i18n.language_name
    app.extensions["open311.html_errors"] = html_error
    app.register_error_handler(CSRFError, _expired_form)
