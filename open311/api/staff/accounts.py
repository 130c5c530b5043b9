"""Signing in and out, and the administration of staff users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Response

from open311 import clock
from open311.api import database, ratelimits
from open311.api.staff.accounts_schemas import (
    LoginBody,
    NewUserBody,
    TokenOut,
    UserChangeBody,
    UserOut,
)
from open311.api.staff.auth import (
    StaffBlueprint,
    current_token,
    current_user,
    staff_jurisdiction,
    staff_required,
    token_lifetime_hours,
)
from open311.db import staff_queries
from open311.db.models import Crew, Jurisdiction, StaffToken, StaffUser
from open311.domain import staff
from open311.errors import InvalidInput, NotFound, Unauthenticated
from open311.values import StaffRole

blp = StaffBlueprint(
    "staff_accounts", __name__, "Staff API: sign in with a password, get a bearer token; users."
)


@dataclass(frozen=True)
class NewToken:
    """A token just issued and its text, which only this answer ever shows."""

    token: str
    issued: StaffToken


def _crews(ids: list[int]) -> list[Crew]:
    crews = staff_queries.find_crews_by_id(database.session(), ids)
    missing = sorted(set(ids) - {crew.id for crew in crews})
    if missing:
        raise InvalidInput(f"crew_ids: no crew {', '.join(map(str, missing))}")
    return list(crews)


def _cities(ids: list[str] | None) -> list[Jurisdiction]:
    """The jurisdictions named, each one the administrator works for (403 otherwise); none
    named: the administrator's own city (auth.staff_jurisdiction), none if they have none."""
    if not ids:
        return [staff_jurisdiction()] if current_user().jurisdictions else []
    return [staff_jurisdiction(city) for city in dict.fromkeys(ids)]


def _user(username: str) -> StaffUser:
    user = staff_queries.get_staff_user(database.session(), username)
    if user is None:
        raise NotFound(f"no staff user {username}")
    return user


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginBody)
@blp.response(200, TokenOut)
@ratelimits.limit_sign_in
def login(body: dict[str, Any]) -> NewToken:
    """Exchange a username and password for a bearer token (shown once; send it as
    `Authorization: Bearer <token>`)."""
    session = database.session()
    lifetime = timedelta(hours=token_lifetime_hours())
    try:
        token, plain = staff.login(
            session, body["username"], body["password"], now=clock.now(), lifetime=lifetime
        )
    except Unauthenticated:
        session.commit()  # the count of wrong passwords, which a lockout is decided by
        raise
    session.commit()
    return NewToken(plain, token)


@blp.route("/logout", methods=["POST"])
@staff_required()
@blp.response(204)
def logout() -> Response:
    """Revoke the token this call is made with."""
    staff.revoke(current_token(), now=clock.now())
    database.session().commit()
    return Response(status=204)


@blp.route("/me", methods=["GET"])
@staff_required()
@blp.response(200, UserOut)
def me() -> StaffUser:
    """Who the token belongs to: role and crews."""
    return current_user()


@blp.route("/users", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.response(200, UserOut(many=True))
def list_users() -> list[StaffUser]:
    """Every staff user, by username."""
    return list(staff_queries.find_staff_users(database.session()))


@blp.route("/users", methods=["POST"])
@staff_required(StaffRole.administrator)
@blp.arguments(NewUserBody)
@blp.response(201, UserOut)
def create_user(body: dict[str, Any]) -> StaffUser:
    """Create a staff user (a crew member needs crew_ids)."""
    session = database.session()
    user = staff.create_user(
        session,
        body["username"],
        password=body["password"],
        role=body["role"],
        display_name=body.get("display_name"),
        crews=_crews(body["crew_ids"]),
        jurisdictions=_cities(body.get("jurisdiction_ids")),
    )
    session.commit()
    return user


@blp.route("/users/<username>", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.response(200, UserOut)
def get_user(username: str) -> StaffUser:
    """One staff user."""
    return _user(username)


@blp.route("/users/<username>", methods=["PATCH"])
@staff_required(StaffRole.administrator)
@blp.arguments(UserChangeBody)
@blp.response(200, UserOut)
def change_user(body: dict[str, Any], username: str) -> StaffUser:
    """Change a user's name, role, crews, password or active flag. Disabling a user or setting
    a password revokes every token the user has."""
    session = database.session()
    # Locked and read again (crews too): two administrators changing one user at once go one
    # after the other, so the rule that a crew member has a crew holds for what is committed.
    user = staff_queries.lock_staff_user(session, _user(username).id)
    assert user is not None  # just found; users are never deleted
    if "display_name" in body:
        user.display_name = body["display_name"]
    if "role" in body:
        user.role = StaffRole(body["role"])
    if "crew_ids" in body:
        user.crews = _crews(body["crew_ids"])
    if "jurisdiction_ids" in body:
        user.jurisdictions = _cities(body["jurisdiction_ids"])
    staff.check_crews_in(user.crews, user.jurisdictions)
    if user.role is StaffRole.crew_member and not user.crews:
        raise InvalidInput("crew_ids: a crew member belongs to at least one crew")
    if "password" in body:
        staff.set_password(user, body["password"])
        user.failed_logins, user.locked_until = 0, None  # a new password ends a lockout
        staff.revoke_all(session, user, now=clock.now())
    if "active" in body:
        user.active = body["active"]
        if not user.active:
            staff.revoke_all(session, user, now=clock.now())
    session.commit()
    return user
