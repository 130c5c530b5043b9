"""Who is signed in to the console: the session cookie holds a staff token, issued by the same
`staff.login` as POST /api/v1/login and checked by the same `staff.authenticate`, so expiry,
revocation (sign-out, a new password, a disabled account) and roles work as they do in the API.

`staff_page(*roles)` guards a view: no live token sends the browser to the sign-in page (with
the page it wanted), a role not allowed is a 403 page. Writes are noted in the audit log as
the API's are.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import g, redirect, request, session, url_for

from open311 import clock
from open311.api import database
from open311.db.models import StaffToken, StaffUser
from open311.domain import activity, audit, staff
from open311.errors import Unauthenticated
from open311.values import StaffRole

TOKEN_KEY = "staff_token"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def sign_in_session(plain_token: str) -> None:
    """Start a signed-in session: a new session (no fixation of one made before sign-in)."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    session[TOKEN_KEY] = plain_token
    session.permanent = False  # gone with the browser; the token's own expiry bounds it anyway


def signed_in_token() -> StaffToken | None:
    """The live token of this browser's session, or None."""
    if "staff_token_checked" in g:
        return g.staff_token
    plain = session.get(TOKEN_KEY)
    token = None
    if isinstance(plain, str) and plain:
        try:
            token = staff.authenticate(database.session(), plain, now=clock.now())
        except Unauthenticated:
            session.pop(TOKEN_KEY, None)
    g.staff_token_checked = True
    g.staff_token = token
    return token


def current_user() -> StaffUser:
    token = signed_in_token()
    assert token is not None, "current_user() outside a staff_page view"
    return token.user


def actor() -> str:
    """How the activity log names the signed-in user (as the staff API does)."""
    return activity.staff_actor(current_user().username)


def safe_next(target: str | None) -> str | None:
    """A page of this site to go back to after signing in; anything else (another host, a
    scheme, //host) is dropped."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def staff_page(*roles: StaffRole) -> Callable:
    """Let the view run for a signed-in user of one of `roles` (any role when none given)."""
    allowed = roles or tuple(StaffRole)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = signed_in_token()
            if token is None:
                wanted = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for("console.sign_in", next=wanted))
            staff.require_role(token.user, allowed)  # Forbidden: a 403 page
            if request.method in WRITES:
                rule = request.url_rule.rule if request.url_rule is not None else request.path
                fields = tuple(key for key in request.form if key != "csrf_token")
                call = audit.Call(actor(), request.method, rule, request.path, fields)
                audit.watch(database.session(), call)
            return view(*args, **kwargs)

        return wrapper

    return decorator
