"""Updates posted by apps, as staff see them, and publishing one to citizens."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from open311.api import database
from open311.api.staff.auth import StaffBlueprint, actor, now, staff_required
from open311.db.update_feed import AppUpdateRow
from open311.domain import updates
from open311.values import StaffRole
from open311.wire.updates import media_urls

blp = StaffBlueprint("staff_moderation", __name__, "Staff API: updates posted by apps.")

MODERATORS = (StaffRole.administrator, StaffRole.supervisor, StaffRole.call_taker)


class AuthorSchema(Schema):
    first_name = fields.String()
    last_name = fields.String()
    email = fields.String()
    phone = fields.String()
    account_id = fields.String()


class AppUpdateSchema(Schema):
    update_id = fields.String(metadata={"description": "the server's id (publish with it)"})
    service_request_id = fields.String()
    client_update_id = fields.String(metadata={"description": "the app's own update_id"})
    api_client = fields.String(metadata={"description": "the app's name"})
    received_datetime = fields.DateTime()
    updated_datetime = fields.String(metadata={"description": "when the app says it was made"})
    status = fields.String(metadata={"description": "the status the app sent (upper case)"})
    description = fields.String()
    media_url = fields.List(fields.String())
    author = fields.Nested(AuthorSchema, allow_none=True)
    published_update_id = fields.String(
        allow_none=True, metadata={"description": "its public entry, once published"}
    )


class PublishSchema(Schema):
    """An unknown field is a mistake worth a 400 (marshmallow's default: raise)."""

    text = fields.String(
        validate=validate.Length(min=1, max=4000),
        metadata={"description": "the text to publish; default the citizen's own"},
    )


class PublishedSchema(Schema):
    update_id = fields.String(metadata={"description": "the public entry's id in the feed"})
    app_update_id = fields.String()
    service_request_id = fields.String()
    status = fields.String()
    updated_datetime = fields.DateTime()
    description = fields.String()
    media_url = fields.List(fields.String())


def _app_update(row: AppUpdateRow, service_request_id: str) -> dict[str, Any]:
    entry, author = row.update, row.author
    return {
        "update_id": str(entry.id),
        "service_request_id": service_request_id,
        "client_update_id": entry.client_update_id,
        "api_client": row.client_name,
        "received_datetime": entry.at,
        "updated_datetime": entry.details.get("client_updated_datetime"),
        "status": entry.details.get("client_status"),
        "description": entry.details.get("description", ""),
        "media_url": media_urls(entry.details.get("media_url")),
        "author": None if author is None else author,
        "published_update_id": None if row.published_id is None else str(row.published_id),
    }


@blp.route("/requests/<service_request_id>/app-updates", methods=["GET"])
@staff_required(*MODERATORS)
@blp.response(200, AppUpdateSchema(many=True))
def list_app_updates(service_request_id: str) -> list[dict[str, Any]]:
    """The updates apps posted on a request, oldest first, with their authors' contact and
    whether each was published."""
    rows = updates.app_updates_of(database.session(), service_request_id)
    return [_app_update(row, service_request_id) for row in rows]


@blp.route("/app-updates/<int:update_id>/publish", methods=["POST"])
@staff_required(*MODERATORS)
@blp.arguments(PublishSchema)
@blp.response(201, PublishedSchema)
def publish_app_update(body: dict[str, Any], update_id: int) -> dict[str, Any]:
    """Publish an app's update to citizens (servicerequestupdates and notes), with its photos,
    its text as sent or as edited here; the status is the request's current one. Once only."""
    session = database.session()
    entry, request = updates.publish(
        session, update_id, text=body.get("text"), actor=actor(), now=now()
    )
    payload = {
        "update_id": str(entry.id),
        "app_update_id": str(update_id),
        "service_request_id": request.service_request_id,
        "status": entry.status,
        "updated_datetime": entry.at,
        "description": entry.summary,
        "media_url": media_urls(entry.details.get("media_url")),
    }
    session.commit()
    return payload
