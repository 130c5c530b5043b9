"""Bearer-token authentication and role checks for the staff API.

Every staff view is wrapped in `staff_required(...)`, placed under `@blp.route` and above
`@blp.arguments`, so a caller without a valid token learns nothing about the arguments (401
first), a wrong role is 403, and only then are arguments checked (400).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from typing import Any

import flask_smorest
from flask import current_app, g, request
from marshmallow import RAISE

from open311 import clock
from open311.api import database
from open311.api.forms import refuse_control_characters, reject_forbidden
from open311.api.smorest import Blueprint
from open311.db.models import Jurisdiction, ServiceRequest, StaffToken, StaffUser
from open311.domain import activity, audit, staff
from open311.errors import UnknownRequest
from open311.values import StaffRole

ANY_ROLE = tuple(StaffRole)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY = [{"bearerAuth": []}]


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def staff_required(*roles: StaffRole) -> Callable:
    """Let the view run only for a live token of a user with one of `roles` (any role when none
    is given); the user is then `current_user()`."""
    allowed = roles or ANY_ROLE
    names = ", ".join(role.value for role in allowed)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.fmt = "json"
            session = database.session()
            token = staff.authenticate(session, bearer(), now=clock.now())
            staff.require_role(token.user, allowed)
            g.staff_token = token
            if request.method in WRITES:
                audit.watch(session, _call(token.user.username))
            return view(*args, **kwargs)

        documented = flask_smorest.Blueprint.doc(
            security=SECURITY, description=f"{(view.__doc__ or '').strip()}\n\nRoles: {names}."
        )
        return documented(wrapper)

    return decorator


def _call(username: str) -> audit.Call:
    body = request.get_json(silent=True) if request.is_json else None
    fields = tuple(str(key) for key in body) if isinstance(body, dict) else ()
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    return audit.Call(activity.staff_actor(username), request.method, rule, request.path, fields)


def audit_read(*fields: str) -> None:
    """Note in the audit, like a write, that this call read personal data (`fields` name what,
    never the values); the view must then commit, or nothing is written."""
    call = _call(current_user().username)
    audit.watch(database.session(), replace(call, fields=fields))


def current_token() -> StaffToken:
    return g.staff_token


def current_user() -> StaffUser:
    return g.staff_token.user


def staff_jurisdiction(requested_id: str | None = None) -> Jurisdiction:
    """The city this call is about, from the signed-in user: `requested_id` (else the query's
    `jurisdiction_id`) if the user works for it (403 if not, 404 if unknown); unnamed, the
    user's only city or the default one (400 naming the user's cities otherwise). Every staff
    view that needs a city takes it from here."""
    if requested_id is None:
        requested_id = request.args.get("jurisdiction_id") or None
    return staff.choose_jurisdiction(database.session(), current_user(), requested_id)


def check_request_city(found: ServiceRequest) -> ServiceRequest:
    """`found`, if it is a request of the user's cities; another city's is not found (404),
    as if looked up in the user's cities only."""
    if found.service.jurisdiction_id not in staff.jurisdiction_scope(current_user()):
        raise UnknownRequest(f"service_request_id {found.service_request_id} not found")
    return found


def actor() -> str:
    """How the activity log names the signed-in user."""
    return activity.staff_actor(current_user().username)


def token_lifetime_hours() -> float:
    return float(current_app.config["OPEN311_STAFF_TOKEN_HOURS"])


class StaffBlueprint(Blueprint):
    """A blueprint of the staff API: /api/v1, errors as JSON, bad arguments 400."""

    def __init__(self, name: str, import_name: str, description: str) -> None:
        super().__init__(name, import_name, url_prefix="/api/v1", description=description)
        self.before_request(_check_request)

    def arguments(self, schema, *, location: str = "json", **kwargs: Any):
        """An unknown query parameter is refused (400) as an unknown body field is: a typo
        such as `stauts=open` must not answer everything. GeoReport arguments ignore them."""
        if location == "query":
            kwargs.setdefault("unknown", RAISE)
        return super().arguments(schema, location=location, **kwargs)


def _check_request() -> None:
    """Errors in JSON; text XML cannot carry is refused up front (400), since what staff write
    (notes, service names, ...) may end up in public XML."""
    g.fmt = "json"
    refuse_control_characters()
    if request.is_json:
        _reject_in(request.get_json(silent=True))


def _reject_in(value: Any, key: str = "body") -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            reject_forbidden(key, str(name))
            _reject_in(item, str(name))
    elif isinstance(value, list):
        for item in value:
            _reject_in(item, key)
    elif isinstance(value, str):
        reject_forbidden(key, value)
