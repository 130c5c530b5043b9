"""FixMyStreet's servicerequestupdates (GET the public updates feed, POST an app's update)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, request
from marshmallow import ValidationError, fields, pre_load, validate

from open311 import clock
from open311.api import database, media, ratelimits
from open311.api.forms import read_body, read_photos, repeated
from open311.api.georeport_base import GeoReportBlueprint, api_key, next_page_link, respond
from open311.api.schemas import (
    CALLBACK_DOC,
    CursorField,
    JurisdictionArgs,
    LocalTimes,
    W3CDateTime,
)
from open311.api.smorest import load
from open311.db import update_queries as feed
from open311.domain import apikeys, jurisdictions, updates
from open311.errors import InvalidInput
from open311.media import photos
from open311.wire import cursor as cursors
from open311.wire.updates import ROOT, media_urls, post_answer, update_item

blp = GeoReportBlueprint(
    "updates",
    __name__,
    description="Request updates (FixMyStreet extension): the public feed and app updates.",
    jsonp=True,
)
blp.before_request(ratelimits.limit_calls)

MAX_MEDIA = 20


class UpdatesArgs(JurisdictionArgs):
    start_date = W3CDateTime(metadata={"description": "updated_datetime >= this"})
    end_date = W3CDateTime(metadata={"description": "updated_datetime <= this"})
    page_size = fields.Integer(validate=validate.Range(1, updates.MAX_PAGE_SIZE))
    cursor = CursorField(metadata={"description": "from the previous page's Link header"})
    callback = fields.String(metadata=CALLBACK_DOC)


class UpdateStatus(fields.Field):
    """A POST status: one of digest §8.4's words, in any case, as the upper-case word."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("must be a string")
        try:
            return updates.normalise_status(value)
        except InvalidInput as error:
            raise ValidationError(error.problems[0].removeprefix("status: ")) from None


def _required(name: str) -> dict[str, str]:
    return {"required": f"{name} was not provided"}


class UpdateForm(LocalTimes):
    """POST servicerequestupdates' fields (digest §8.2); media_url arrives as a list."""

    jurisdiction_id = fields.String(validate=validate.Length(max=255))
    service_request_id = fields.String(
        required=True,
        validate=validate.Length(max=64),
        error_messages=_required("service_request_id"),
    )
    update_id = fields.String(
        required=True, validate=validate.Length(max=64), error_messages=_required("update_id")
    )
    status = UpdateStatus(required=True, error_messages=_required("status"))
    updated_datetime = W3CDateTime(required=True, error_messages=_required("updated_datetime"))
    description = fields.String(
        required=True, validate=validate.Length(max=4000), error_messages=_required("description")
    )
    media_url = fields.List(
        fields.Url(schemes={"http", "https"}, validate=validate.Length(max=2048)),
        validate=validate.Length(max=MAX_MEDIA),
        load_default=list,
    )
    email = fields.Email(validate=validate.Length(max=254))
    first_name = fields.String(validate=validate.Length(max=255))
    last_name = fields.String(validate=validate.Length(max=255))
    phone = fields.String(validate=validate.Length(max=64))
    account_id = fields.String(validate=validate.Length(max=255))

    @pre_load
    def drop_empty(self, data, **kwargs):
        """As BaseSchema, except that `description` is required yet may be empty (a photo-only
        update), so an empty one is kept."""
        return {
            key: value
            for key, value in data.items()
            if key == "description"
            or (value is not None and not (isinstance(value, str) and not value.strip()))
        }


@blp.route("/servicerequestupdates.<fmt>", methods=["GET"])
@blp.arguments(UpdatesArgs(), location="query", as_kwargs=True)
def list_updates(
    jurisdiction_id: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    page_size: int | None = None,
    cursor: cursors.Cursor | None = None,
    **_args: Any,
) -> Response:
    """Request updates: the public history of requests, oldest first, as a change feed. The
    last 90 days and at most 1000 unless paged (`page_size`, `cursor`; `Link` rel=next)."""
    session = database.session()
    plan = updates.plan_feed(
        session,
        jurisdiction_id,
        start=start_date,
        end=end_date,
        page_size=page_size,
        cursor=cursor,
        now=clock.now(),
    )
    page = feed.find_feed_page(session, plan.query)
    if not page.rows:
        jurisdictions.resolve(session, jurisdiction_id)  # an unknown jurisdiction says so
    items = [
        update_item(
            row.update_id,
            row.service_request_id,
            row.status,
            row.at,
            row.description,
            row.media_url,
        )
        for row in page.rows
    ]
    response = respond(items, ROOT)
    following = updates.next_cursor(page)
    if following is not None:
        link = next_page_link(plan.query.limit, plan.window, cursor=cursors.encode(following))
        response.headers["Link"] = link
    return response


@blp.route("/servicerequestupdates.<fmt>", methods=["POST"])
def post_update() -> Response:
    """Post a citizen's update from an app (api_key required): a comment staff may publish,
    or a request to reopen. Idempotent on the client's update_id."""
    fields_, _answers = read_body(request)
    session = database.session()
    client = apikeys.authenticate(session, api_key(fields_))
    # Only a known client's photos are read (and, further down, decoded).
    uploads = read_photos(request)
    form = load(UpdateForm(), fields_ | {"media_url": repeated(request, fields_, "media_url")})
    jurisdiction = jurisdictions.resolve(session, form.pop("jurisdiction_id", None))
    # Every photo is checked before anything is stored; uploaded ones come before linked URLs.
    cleaned = photos.prepare(uploads)
    uploaded = [media.media_url(photo.name) for photo in cleaned]
    update = updates.AppUpdate(**(form | {"media_url": (*uploaded, *form["media_url"])}))
    stored = updates.post_update(session, jurisdiction, client, update)
    payload = post_answer(stored.id, update.account_id)
    if uploaded and uploaded[0] not in media_urls(stored.details.get("media_url")):
        cleaned = []  # a repeated update_id: the first POST's entry stands, with its photos
    with photos.kept(media.store(), cleaned):
        photos.record(
            session,
            cleaned,
            service_request_pk=stored.service_request_pk,
            activity_id=stored.id,
            now=stored.at,
        )
        session.commit()
    return respond(payload, ROOT)
