"""Signing in and out, and the administration of staff users."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response
from marshmallow import Schema, fields, validate

from open311.api import database
from open311.api.smorest import StaffBody
from open311.api.staff.auth import (
    StaffBlueprint,
    current_token,
    current_user,
    now,
    staff_required,
    token_lifetime_hours,
)
from open311.db import staff_queries
from open311.db.models import StaffUser
from open311.domain import staff
from open311.errors import InvalidInput, NotFound, Unauthenticated
from open311.values import StaffRole

blp = StaffBlueprint(
    "staff_accounts", __name__, "Staff API: sign in with a password, get a bearer token; users."
)

ROLES = [role.value for role in StaffRole]


class CrewRefSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    agency = fields.Function(lambda crew: crew.agency.code)
    kind = fields.Function(lambda crew: crew.kind.value)


class UserSchema(Schema):
    username = fields.String()
    display_name = fields.String()
    role = fields.Function(lambda user: user.role.value)
    active = fields.Boolean()
    crews = fields.List(fields.Nested(CrewRefSchema))
    created_at = fields.DateTime()


class LoginSchema(StaffBody):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class TokenSchema(Schema):
    token = fields.String()
    token_prefix = fields.String()
    expires_at = fields.DateTime()
    user = fields.Nested(UserSchema)


class NewUserSchema(StaffBody):
    username = fields.String(required=True)
    password = fields.String(required=True, validate=validate.Length(max=1024))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    display_name = fields.String(validate=validate.Length(min=1, max=255))
    crew_ids = fields.List(fields.Integer(), load_default=list)


class UserChangeSchema(StaffBody):
    display_name = fields.String(validate=validate.Length(min=1, max=255))
    role = fields.String(validate=validate.OneOf(ROLES))
    crew_ids = fields.List(fields.Integer())
    active = fields.Boolean()
    password = fields.String(validate=validate.Length(max=1024))


def _crews(ids: list[int]) -> list[Any]:
    crews = staff_queries.find_crews_by_id(database.session(), ids)
    missing = sorted(set(ids) - {crew.id for crew in crews})
    if missing:
        raise InvalidInput(f"crew_ids: no crew {', '.join(map(str, missing))}")
    return list(crews)


def _user(username: str) -> StaffUser:
    user = staff_queries.get_staff_user(database.session(), username)
    if user is None:
        raise NotFound(f"no staff user {username}")
    return user


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
def login(body: dict[str, Any]) -> dict[str, Any]:
    """Exchange a username and password for a bearer token (shown once; send it as
    `Authorization: Bearer <token>`)."""
    session = database.session()
    lifetime = timedelta(hours=token_lifetime_hours())
    try:
        token, plain = staff.login(
            session, body["username"], body["password"], now=now(), lifetime=lifetime
        )
    except Unauthenticated:
        session.commit()  # the count of wrong passwords, which a lockout is decided by
        raise
    session.commit()
    return {
        "token": plain,
        "token_prefix": token.token_prefix,
        "expires_at": token.expires_at,
        "user": token.user,
    }


@blp.route("/logout", methods=["POST"])
@staff_required()
@blp.response(204)
def logout() -> Response:
    """Revoke the token this call is made with."""
    staff.revoke(current_token(), now=now())
    database.session().commit()
    return Response(status=204)


@blp.route("/me", methods=["GET"])
@staff_required()
@blp.response(200, UserSchema)
def me() -> StaffUser:
    """Who the token belongs to: role and crews."""
    return current_user()


@blp.route("/users", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.response(200, UserSchema(many=True))
def list_users() -> list[StaffUser]:
    """Every staff user, by username."""
    return list(staff_queries.find_staff_users(database.session()))


@blp.route("/users", methods=["POST"])
@staff_required(StaffRole.administrator)
@blp.arguments(NewUserSchema)
@blp.response(201, UserSchema)
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
    )
    session.commit()
    return user


@blp.route("/users/<username>", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.response(200, UserSchema)
def get_user(username: str) -> StaffUser:
    """One staff user."""
    return _user(username)


@blp.route("/users/<username>", methods=["PATCH"])
@staff_required(StaffRole.administrator)
@blp.arguments(UserChangeSchema)
@blp.response(200, UserSchema)
def change_user(body: dict[str, Any], username: str) -> StaffUser:
    """Change a user's name, role, crews, password or active flag. Disabling a user or setting
    a password revokes every token the user has."""
    session = database.session()
    user = _user(username)
    if "display_name" in body:
        user.display_name = body["display_name"]
    if "role" in body:
        user.role = StaffRole(body["role"])
    if "crew_ids" in body:
        user.crews = _crews(body["crew_ids"])
    if user.role is StaffRole.crew_member and not user.crews:
        raise InvalidInput("crew_ids: a crew member belongs to at least one crew")
    if "password" in body:
        staff.set_password(user, body["password"])
        user.failed_logins, user.locked_until = 0, None  # a new password ends a lockout
        staff.revoke_all(session, user, now=now())
    if "active" in body:
        user.active = body["active"]
        if not user.active:
            staff.revoke_all(session, user, now=now())
    session.commit()
    return user
