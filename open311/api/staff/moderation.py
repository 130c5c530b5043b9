"""Updates posted by apps, as staff see them, and publishing one to citizens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from open311 import clock
from open311.api import database
from open311.api.staff.auth import StaffBlueprint, actor, check_request_city, staff_required
from open311.api.staff.moderation_schemas import AppUpdateOut, PublishBody, PublishedOut
from open311.db import request_queries, update_queries
from open311.db.models import Activity, ServiceRequest
from open311.db.update_queries import AppUpdateRow
from open311.domain import updates
from open311.errors import NotFound, UnknownRequest
from open311.values import StaffRole

blp = StaffBlueprint("staff_moderation", __name__, "Staff API: updates posted by apps.")

MODERATORS = (StaffRole.administrator, StaffRole.supervisor, StaffRole.call_taker)


@dataclass(frozen=True)
class AppUpdate:
    """An app's update on the request it was listed for."""

    service_request_id: str
    row: AppUpdateRow


@dataclass(frozen=True)
class Published:
    """The public entry an app's update became, on its request."""

    entry: Activity
    request: ServiceRequest


@blp.route("/requests/<service_request_id>/app-updates", methods=["GET"])
@staff_required(*MODERATORS)
@blp.response(200, AppUpdateOut(many=True))
def list_app_updates(service_request_id: str) -> list[AppUpdate]:
    """The updates apps posted on a request, oldest first, with their authors' contact and
    whether each was published."""
    session = database.session()
    found = request_queries.get_request_by_public_id(session, service_request_id)
    if found is None:
        raise UnknownRequest(f"service_request_id {service_request_id} not found")
    check_request_city(found)
    rows = updates.app_updates_of(session, service_request_id)
    return [AppUpdate(service_request_id, row) for row in rows]


@blp.route("/app-updates/<int:update_id>/publish", methods=["POST"])
@staff_required(*MODERATORS)
@blp.arguments(PublishBody)
@blp.response(201, PublishedOut)
def publish_app_update(body: dict[str, Any], update_id: int) -> Published:
    """Publish an app's update to citizens (servicerequestupdates and notes), with its photos,
    its text as sent or as edited here; the status is the request's current one. Once only."""
    session = database.session()
    update = update_queries.get_app_update(session, update_id)
    if update is None:
        raise NotFound(f"no app update {update_id}")
    on = session.get(ServiceRequest, update.service_request_pk)
    assert on is not None  # a foreign key guarantees it
    check_request_city(on)
    entry, request = updates.publish(
        session, update_id, text=body.get("text"), actor=actor(), now=clock.now()
    )
    session.commit()
    return Published(entry, request)
