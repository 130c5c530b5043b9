"""Who may call each staff endpoint: every endpoint tried with every role and without a token.

The table is the access policy in one place (README "Staff API" prints the same). A role not
listed gets 403 with the JSON error envelope; a listed role gets past the check (any status but
401/403: the placeholders name nothing, so most answer 404 or 400 and nothing changes); no token
is 401. Crew scope (a crew member and another crew's work order) is tested per module.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from open311.db.models import Activity, ServiceRequest, WorkOrder
from open311.values import StaffRole
from tests.api.helpers import bearer, make_staff
from tests.factories import make_agency, make_crew, make_jurisdiction

A, S, C, M, E = (
    StaffRole.administrator,
    StaffRole.supervisor,
    StaffRole.call_taker,
    StaffRole.crew_member,
    StaffRole.editor,
)
ANYONE = {A, S, C, M, E}
REQUEST_STAFF = {A, S, C, M}  # everyone who works requests: not editors
MANAGERS = {A, S}
DESK = {A, S, C}
KB_WRITERS = {A, E}
KB_READERS = {A, E, S, C}

POLICY: dict[tuple[str, str], set[StaffRole]] = {
    # accounts
    ("POST", "/api/v1/logout"): ANYONE,
    ("GET", "/api/v1/me"): ANYONE,
    ("GET", "/api/v1/users"): {A},
    ("POST", "/api/v1/users"): {A},
    ("GET", "/api/v1/users/<username>"): {A},
    ("PATCH", "/api/v1/users/<username>"): {A},
    ("GET", "/api/v1/audit"): {A},
    # jurisdictions: everyone sees their own; administrators add and change them
    ("GET", "/api/v1/jurisdictions"): ANYONE,
    ("POST", "/api/v1/jurisdictions"): {A},
    ("GET", "/api/v1/jurisdictions/<jurisdiction_id>"): ANYONE,
    ("PATCH", "/api/v1/jurisdictions/<jurisdiction_id>"): {A},
    # catalogue: administrators change it, supervisors read it
    ("GET", "/api/v1/services"): MANAGERS,
    ("POST", "/api/v1/services"): {A},
    ("GET", "/api/v1/services/<service_code>"): MANAGERS,
    ("PATCH", "/api/v1/services/<service_code>"): {A},
    ("PUT", "/api/v1/services/<service_code>/attributes"): {A},
    ("GET", "/api/v1/services/<service_code>/routing-rule"): MANAGERS,
    ("PUT", "/api/v1/services/<service_code>/routing-rule"): {A},
    ("GET", "/api/v1/workflows"): MANAGERS,
    ("POST", "/api/v1/workflows"): {A},
    ("GET", "/api/v1/workflows/<code>"): MANAGERS,
    ("PUT", "/api/v1/workflows/<code>"): {A},
    ("GET", "/api/v1/agencies"): MANAGERS,
    ("POST", "/api/v1/agencies"): {A},
    ("GET", "/api/v1/agencies/<code>"): MANAGERS,
    ("PATCH", "/api/v1/agencies/<code>"): {A},
    ("GET", "/api/v1/crews"): MANAGERS,
    ("POST", "/api/v1/crews"): {A},
    ("GET", "/api/v1/crews/<int:crew_id>"): MANAGERS,
    ("PATCH", "/api/v1/crews/<int:crew_id>"): {A},
    ("GET", "/api/v1/api-clients"): MANAGERS,
    ("POST", "/api/v1/api-clients"): {A},
    ("PATCH", "/api/v1/api-clients/<int:client_id>"): {A},
    ("POST", "/api/v1/api-clients/<int:client_id>/disable"): {A},
    ("POST", "/api/v1/api-clients/<int:client_id>/rotate"): {A},
    # work: crews see their own work orders only (tests/api/test_staff_work.py)
    ("GET", "/api/v1/work-orders"): {A, S, M},
    ("GET", "/api/v1/work-orders/<int:work_order_id>"): {A, S, M},
    ("POST", "/api/v1/work-orders/<int:work_order_id>/transitions"): {A, S, M},
    ("POST", "/api/v1/work-orders/<int:work_order_id>/reassign"): MANAGERS,
    ("GET", "/api/v1/requests/<service_request_id>"): REQUEST_STAFF,
    ("POST", "/api/v1/requests/<service_request_id>/notes"): REQUEST_STAFF,
    ("POST", "/api/v1/requests/<service_request_id>/location"): DESK,
    ("POST", "/api/v1/requests/<service_request_id>/cancel"): MANAGERS,
    ("POST", "/api/v1/requests/<service_request_id>/work-orders"): MANAGERS,
    # duplicates and intake
    ("POST", "/api/v1/requests/<service_request_id>/duplicate/confirm"): MANAGERS,
    ("POST", "/api/v1/requests/<service_request_id>/duplicate/undo"): MANAGERS,
    ("POST", "/api/v1/requests/<service_request_id>/merge"): MANAGERS,
    ("GET", "/api/v1/intake/nearby"): DESK,
    ("POST", "/api/v1/intake/requests"): DESK,
    # updates posted by apps
    ("GET", "/api/v1/requests/<service_request_id>/app-updates"): DESK,
    ("POST", "/api/v1/app-updates/<int:update_id>/publish"): DESK,
    # webhooks and their deliveries
    ("GET", "/api/v1/webhooks"): {A},
    ("POST", "/api/v1/webhooks"): {A},
    ("PATCH", "/api/v1/webhooks/<int:subscription_id>"): {A},
    ("GET", "/api/v1/deliveries"): {A},
    ("POST", "/api/v1/deliveries/<int:delivery_id>/replay"): {A},
    # personal data on a person's request
    ("POST", "/api/v1/privacy/erasures"): {A},
    ("GET", "/api/v1/privacy/export"): {A},
    # the knowledge base: editors and administrators write, the desk reads and answers calls
    ("GET", "/api/v1/articles"): KB_READERS,
    ("POST", "/api/v1/articles"): KB_WRITERS,
    ("GET", "/api/v1/articles/<article_id>"): KB_READERS,
    ("PATCH", "/api/v1/articles/<article_id>"): KB_WRITERS,
    ("PUT", "/api/v1/articles/<article_id>/variants/<locale>"): KB_WRITERS,
    ("DELETE", "/api/v1/articles/<article_id>/variants/<locale>"): KB_WRITERS,
    ("POST", "/api/v1/articles/<article_id>/publish"): KB_WRITERS,
    ("POST", "/api/v1/articles/<article_id>/unpublish"): KB_WRITERS,
    ("POST", "/api/v1/articles/<article_id>/retire"): KB_WRITERS,
    ("GET", "/api/v1/articles/<article_id>/revisions"): KB_READERS,
    ("POST", "/api/v1/articles/<article_id>/answers"): DESK,
    ("GET", "/api/v1/article-search"): KB_READERS,
    ("GET", "/api/v1/article-topics"): KB_READERS,
    ("POST", "/api/v1/article-topics"): KB_WRITERS,
    ("PATCH", "/api/v1/article-topics/<code>"): KB_WRITERS,
    ("GET", "/api/v1/knowledge-base"): KB_READERS,
    ("POST", "/api/v1/knowledge-base"): KB_WRITERS,
    # a city's texts in its other languages: administrators and editors only
    ("GET", "/api/v1/translations"): KB_WRITERS,
    ("PUT", "/api/v1/translations/<locale>"): KB_WRITERS,
    ("DELETE", "/api/v1/translations/<locale>"): KB_WRITERS,
    ("POST", "/api/v1/translations/<locale>"): KB_WRITERS,
    ("GET", "/api/v1/translations/<locale>.po"): KB_WRITERS,
    ("GET", "/api/v1/translations/<locale>.xlf"): KB_WRITERS,
    # contacts: the desk records and reads them (a call-taker their own)
    ("POST", "/api/v1/contacts"): DESK,
    ("GET", "/api/v1/contacts"): DESK,
    ("GET", "/api/v1/contacts/<int:contact_id>"): DESK,
    ("PATCH", "/api/v1/contacts/<int:contact_id>"): DESK,
    # the staff statistics: managers; a call-taker their own contact figures
    ("GET", "/api/v1/stats/contacts"): DESK,
    ("GET", "/api/v1/stats/contacts.svg"): DESK,
    ("GET", "/api/v1/stats/contacts.png"): DESK,
    ("GET", "/api/v1/stats/articles"): MANAGERS,
    ("GET", "/api/v1/stats/work-orders"): MANAGERS,
    ("GET", "/api/v1/stats/work-orders.svg"): MANAGERS,
    ("GET", "/api/v1/stats/work-orders.png"): MANAGERS,
}
# Signing in is the one staff endpoint without a token.
OPEN = {("POST", "/api/v1/login")}


def staff_endpoints(app) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_the_policy_names_every_staff_endpoint(app):
    assert set(POLICY) | OPEN == staff_endpoints(app)


def placeholder_path(rule: str) -> str:
    """Fill each <converter:name> with a value that names nothing."""
    return re.sub(
        r"<(?:(\w+):)?(\w+)>",
        lambda m: "999999" if m.group(1) == "int" else "NO-SUCH-THING",
        rule,
    )


def counts(db) -> tuple[int, int, int]:
    return tuple(
        db.scalar(select(func.count()).select_from(table))
        for table in (ServiceRequest, WorkOrder, Activity)
    )


@pytest.fixture
def tokens(db) -> dict[StaffRole, str]:
    crew = make_crew(db, make_agency(db, make_jurisdiction(db), "BSS"), "CD1")
    return {role: make_staff(db, role, crews=[crew] if role is M else [])[1] for role in ANYONE}


@pytest.mark.parametrize("endpoint", sorted(POLICY), ids=lambda e: f"{e[0]} {e[1]}")
def test_each_role_gets_what_the_policy_says(client, db, tokens, endpoint):
    method, rule = endpoint
    path = placeholder_path(rule)
    before = counts(db)
    anonymous = client.open(path, method=method, json={})
    assert anonymous.status_code == 401, anonymous.data
    assert anonymous.json[0]["code"] == 401
    # Logging out revokes the token it is called with: try it last.
    for role in sorted(ANYONE, key=lambda role: role.value):
        response = client.open(path, method=method, json={}, headers=bearer(tokens[role]))
        if role in POLICY[endpoint]:
            assert response.status_code not in (401, 403), (role, response.json)
        else:
            assert response.status_code == 403, (role, response.data)
            assert response.json[0]["code"] == 403
            assert role.value in response.json[0]["description"]
    assert counts(db) == before
