"""The audit of staff changes: every committed write through /api/v1, with its actor, in the
transaction of the change; refused calls leave nothing; values are never kept."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from open311.db.models import AuditEntry
from open311.values import StaffRole
from tests.api.helpers import PASSWORD, bearer, make_staff
from tests.factories import make_agency, make_crew, make_jurisdiction


def entries(db) -> list[AuditEntry]:
    db.expire_all()
    return list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_a_committed_change_is_audited_with_its_actor_and_field_names(client, db):
    make_jurisdiction(db)
    _admin, token = make_staff(db, StaffRole.administrator, "ada")
    response = client.post(
        "/api/v1/users",
        headers=bearer(token),
        json={"username": "sam", "password": PASSWORD, "role": "supervisor"},
    )
    assert response.status_code == 201, response.json
    (entry,) = entries(db)
    assert (entry.actor, entry.method, entry.route, entry.path) == (
        "staff:ada",
        "POST",
        "/api/v1/users",
        "/api/v1/users",
    )
    assert entry.fields == ["password", "role", "username"]
    assert PASSWORD not in str(entry.fields)  # names only, never values


def test_refused_and_read_only_calls_leave_no_entry(client, db):
    _admin, admin_token = make_staff(db, StaffRole.administrator, "ada")
    _clerk, clerk_token = make_staff(db, StaffRole.call_taker, "cal")
    admin, clerk = bearer(admin_token), bearer(clerk_token)
    assert client.get("/api/v1/users", headers=admin).status_code == 200  # a read
    assert client.post("/api/v1/users", headers=admin, json={"username": "x"}).status_code == 400
    # Refused by the rule after the view had begun to change the user.
    refused = client.patch("/api/v1/users/cal", headers=admin, json={"role": "crew_member"})
    assert refused.status_code == 400
    unknown = client.patch("/api/v1/users/nobody", headers=admin, json={"role": "supervisor"})
    assert unknown.status_code == 404
    assert client.post("/api/v1/users", headers=clerk, json={}).status_code == 403
    assert client.post("/api/v1/users", json={}).status_code == 401
    assert entries(db) == []


def test_work_changes_are_audited_too_and_listed_newest_first(client, db):
    crew = make_crew(db, make_agency(db, make_jurisdiction(db), "BSS"), "CD1")
    _admin, token = make_staff(db, StaffRole.administrator, "ada")
    renamed = client.patch(
        f"/api/v1/crews/{crew.id}", headers=bearer(token), json={"name": "Council District 1"}
    )
    assert renamed.status_code == 200, renamed.json
    assert client.post("/api/v1/logout", headers=bearer(token)).status_code == 204
    _admin, again = make_staff(db, StaffRole.administrator, "bea")

    listed = client.get("/api/v1/audit", headers=bearer(again))
    assert listed.status_code == 200
    assert [(item["actor"], item["method"], item["route"]) for item in listed.json] == [
        ("staff:ada", "POST", "/api/v1/logout"),
        ("staff:ada", "PATCH", "/api/v1/crews/<int:crew_id>"),
    ]
    assert listed.json[1]["path"] == f"/api/v1/crews/{crew.id}"
    assert listed.json[1]["fields"] == ["name"]
    older = client.get(
        "/api/v1/audit",
        headers=bearer(again),
        query_string={"before_id": listed.json[0]["id"], "actor": "staff:ada"},
    )
    assert older.status_code == 200
    assert [item["route"] for item in older.json] == ["/api/v1/crews/<int:crew_id>"]


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "501"}, {"since": "yesterday"}, {"before_id": "x"}]
)
def test_bad_audit_queries_are_400(client, db, query):
    _admin, token = make_staff(db, StaffRole.administrator)
    response = client.get("/api/v1/audit", headers=bearer(token), query_string=query)
    assert response.status_code == 400


def test_the_audit_cannot_be_rewritten(client, db):
    _admin, token = make_staff(db, StaffRole.administrator)
    assert client.post("/api/v1/logout", headers=bearer(token)).status_code == 204
    (entry,) = entries(db)
    for statement in ("UPDATE audit_entry SET actor = 'x'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
            db.execute(text(statement))
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == 1
    assert entries(db)[0].actor == entry.actor
