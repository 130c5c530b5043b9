"""Bodies and answers of the moderation of updates posted by apps."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from open311.api.smorest import StaffBody
from open311.wire.updates import media_urls


class MediaUrls(fields.List):
    """An activity entry's details.media_url (one string, a list, or nothing) as a list."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.String(), dump_default=None, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> list[str]:
        return super()._serialize(media_urls(value), attr, obj, **kwargs)


class PublishBody(StaffBody):
    text = fields.String(
        validate=validate.Length(min=1, max=4000),
        metadata={"description": "the text to publish; default the citizen's own"},
    )


class AuthorOut(Schema):
    first_name = fields.String()
    last_name = fields.String()
    email = fields.String()
    phone = fields.String()
    account_id = fields.String()


class AppUpdateOut(Schema):
    """An update an app posted, dumped from a moderation.AppUpdate: the row of the update and
    its author, client and publication, and the request it is on."""

    update_id = fields.String(
        attribute="update.id", metadata={"description": "the server's id (publish with it)"}
    )
    service_request_id = fields.String()
    client_update_id = fields.String(
        attribute="update.client_update_id", metadata={"description": "the app's own update_id"}
    )
    api_client = fields.String(attribute="client_name", metadata={"description": "the app's name"})
    received_datetime = fields.DateTime(attribute="update.at")
    updated_datetime = fields.String(
        attribute="update.details.client_updated_datetime",
        dump_default=None,
        metadata={"description": "when the app says it was made"},
    )
    status = fields.String(
        attribute="update.details.client_status",
        dump_default=None,
        metadata={"description": "the status the app sent (upper case)"},
    )
    description = fields.String(attribute="update.details.description", dump_default="")
    media_url = MediaUrls(attribute="update.details.media_url")
    author = fields.Nested(AuthorOut, allow_none=True)
    published_update_id = fields.String(
        attribute="published_id",
        allow_none=True,
        metadata={"description": "its public entry, once published"},
    )

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        source = obj if attr == "service_request_id" else obj.row
        return super().get_attribute(source, attr, default)


class PublishedOut(Schema):
    """An app's update once published, dumped from a moderation.Published: the public entry,
    and the request it is on."""

    update_id = fields.String(
        attribute="id", metadata={"description": "the public entry's id in the feed"}
    )
    app_update_id = fields.String(attribute="details.app_update_id")
    service_request_id = fields.String()
    status = fields.String()
    updated_datetime = fields.DateTime(attribute="at")
    description = fields.String(attribute="summary")
    media_url = MediaUrls(attribute="details.media_url")

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        source = obj.request if attr == "service_request_id" else obj.entry
        return super().get_attribute(source, attr, default)
