"""Signing in, tokens (expiry, revocation, disabled users) and user administration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from open311.db.models import StaffToken, StaffUser
from open311.domain import staff
from open311.values import StaffRole
from tests.api.helpers import PASSWORD, bearer, make_staff
from tests.factories import make_agency, make_crew, make_jurisdiction


def test_login_gives_a_token_that_works_and_is_stored_hashed(client, db):
    make_staff(db, StaffRole.supervisor, "sam")
    response = client.post("/api/v1/login", json={"username": "sam", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json["token"]
    assert response.json["user"]["role"] == "supervisor"
    stored = db.scalars(select(StaffToken.token_hash)).all()
    assert token not in stored and staff.hash_token(token) in stored
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.json["username"] == "sam"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "sam", "password": "wrong password!"},
        {"username": "nobody", "password": PASSWORD},
    ],
)
def test_bad_credentials_are_401_and_store_nothing(client, db, body):
    make_staff(db, StaffRole.supervisor, "sam")
    before = db.scalar(select(func.count()).select_from(StaffToken))
    response = client.post("/api/v1/login", json=body)
    assert response.status_code == 401
    assert response.json == [{"code": 401, "description": "username or password not recognised"}]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert db.scalar(select(func.count()).select_from(StaffToken)) == before


def test_login_without_fields_is_400(client, db):
    response = client.post("/api/v1/login", json={"username": "sam"})
    assert response.status_code == 400
    assert response.json[0]["code"] == 400 and "password" in response.json[0]["description"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic c2FtOnB3"}],
)
def test_missing_or_bad_token_is_401_in_json(client, headers):
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.content_type.startswith("application/json")
    assert response.json[0]["code"] == 401


def test_expired_and_revoked_tokens_are_refused(client, db):
    user, plain = make_staff(db, StaffRole.call_taker)
    token = db.scalar(select(StaffToken).where(StaffToken.staff_user_id == user.id))
    token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.flush()
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 401
    _token, fresh = staff.issue_token(db, user, now=datetime.now(UTC), lifetime=timedelta(hours=1))
    db.flush()
    assert client.post("/api/v1/logout", headers=bearer(fresh)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(fresh)).status_code == 401


def test_wrong_role_is_403(client, db):
    _user, plain = make_staff(db, StaffRole.call_taker)
    response = client.get("/api/v1/users", headers=bearer(plain))
    assert response.status_code == 403
    assert "administrator" in response.json[0]["description"]


def test_administrator_creates_changes_and_disables_users(client, db):
    jurisdiction = make_jurisdiction(db)
    crew = make_crew(db, make_agency(db, jurisdiction, "BSS"), "CD1")
    _admin, plain = make_staff(db, StaffRole.administrator)
    created = client.post(
        "/api/v1/users",
        headers=bearer(plain),
        json={
            "username": "pat",
            "password": PASSWORD,
            "role": "crew_member",
            "crew_ids": [crew.id],
        },
    )
    assert created.status_code == 201, created.json
    assert created.json["crews"][0]["code"] == "CD1"
    login = client.post("/api/v1/login", json={"username": "pat", "password": PASSWORD})
    pat_token = login.json["token"]
    changed = client.patch("/api/v1/users/pat", headers=bearer(plain), json={"active": False})
    assert changed.status_code == 200 and changed.json["active"] is False
    assert client.get("/api/v1/me", headers=bearer(pat_token)).status_code == 401
    again = client.post("/api/v1/login", json={"username": "pat", "password": PASSWORD})
    assert again.status_code == 401


@pytest.mark.parametrize(
    "body, problem",
    [
        ({"username": "Bad Name", "password": PASSWORD, "role": "supervisor"}, "username"),
        ({"username": "ok", "password": "short", "role": "supervisor"}, "password"),
        ({"username": "ok", "password": PASSWORD, "role": "mayor"}, "role"),
        ({"username": "ok", "password": PASSWORD, "role": "crew_member"}, "crew"),
        ({"username": "ok", "password": PASSWORD, "role": "supervisor", "crew_ids": [0]}, "crew"),
        ({"username": "ok", "password": PASSWORD, "role": "supervisor", "x": 1}, "x"),
    ],
)
def test_bad_new_users_are_400_and_store_nothing(client, db, body, problem):
    _admin, plain = make_staff(db, StaffRole.administrator)
    before = db.scalar(select(func.count()).select_from(StaffUser))
    response = client.post("/api/v1/users", headers=bearer(plain), json=body)
    assert response.status_code == 400, response.json
    assert problem in response.json[0]["description"]
    assert db.scalar(select(func.count()).select_from(StaffUser)) == before


def test_a_taken_username_is_409_and_changes_nothing(client, db):
    admin, plain = make_staff(db, StaffRole.administrator)
    body = {"username": admin.username, "password": PASSWORD, "role": "call_taker"}
    response = client.post("/api/v1/users", headers=bearer(plain), json=body)
    assert response.status_code == 409, response.json
    assert response.json == [{"code": 409, "description": f"username: {admin.username} is taken"}]
    db.refresh(admin)
    assert admin.role == StaffRole.administrator


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ok\x00", "password": PASSWORD, "role": "supervisor"},
        {"username": "ok", "password": PASSWORD, "role": "supervisor", "display_name": "a\x1bb"},
        {"username": "ok", "password": PASSWORD, "role": "supervisor", "crew_ids": ["\x07"]},
    ],
)
def test_control_characters_anywhere_in_a_staff_body_are_400(client, db, body):
    _admin, plain = make_staff(db, StaffRole.administrator)
    before = db.scalar(select(func.count()).select_from(StaffUser))
    response = client.post("/api/v1/users", headers=bearer(plain), json=body)
    assert response.status_code == 400
    assert "control characters" in response.json[0]["description"]
    assert db.scalar(select(func.count()).select_from(StaffUser)) == before


def test_five_wrong_passwords_lock_the_account_for_a_while(client, db):
    make_staff(db, StaffRole.supervisor, "sam")
    wrong = {"username": "sam", "password": "not the password"}
    for _ in range(5):
        assert client.post("/api/v1/login", json=wrong).status_code == 401
    right = {"username": "sam", "password": PASSWORD}
    locked = client.post("/api/v1/login", json=right)
    # Refused as a wrong password would be: the answer does not say the username exists.
    assert locked.status_code == 401
    assert locked.json == [{"code": 401, "description": "username or password not recognised"}]
    user = db.scalar(select(StaffUser).where(StaffUser.username == "sam"))
    db.refresh(user)
    assert user.locked_until > datetime.now(UTC) + timedelta(minutes=14)
    user.locked_until = datetime.now(UTC) - timedelta(seconds=1)  # the lockout has passed
    db.flush()
    assert client.post("/api/v1/login", json=right).status_code == 200
    db.refresh(user)
    assert (user.failed_logins, user.locked_until) == (0, None)


def test_a_right_password_resets_the_count_of_wrong_ones(client, db):
    user, _token = make_staff(db, StaffRole.supervisor, "sam")
    wrong = {"username": "sam", "password": "not the password"}
    right = {"username": "sam", "password": PASSWORD}
    for _ in range(4):
        assert client.post("/api/v1/login", json=wrong).status_code == 401
    assert client.post("/api/v1/login", json=right).status_code == 200
    db.refresh(user)
    assert (user.failed_logins, user.locked_until) == (0, None)
    # Four more: eight wrong in all, but never five in a row, so no lockout.
    for _ in range(4):
        assert client.post("/api/v1/login", json=wrong).status_code == 401
    assert client.post("/api/v1/login", json=right).status_code == 200
    db.refresh(user)
    assert (user.failed_logins, user.locked_until) == (0, None)


def test_a_new_password_ends_a_lockout_and_revokes_every_token(client, db):
    _sam, sam_token = make_staff(db, StaffRole.supervisor, "sam")
    _admin, admin = make_staff(db, StaffRole.administrator, "ada")
    second = client.post("/api/v1/login", json={"username": "sam", "password": PASSWORD})
    sam_second_token = second.json["token"]
    for _ in range(5):
        client.post("/api/v1/login", json={"username": "sam", "password": "not the password"})
    right = {"username": "sam", "password": PASSWORD}
    assert client.post("/api/v1/login", json=right).status_code == 401  # locked
    # A lockout stops sign-ins, not the tokens already given out.
    assert client.get("/api/v1/me", headers=bearer(sam_token)).status_code == 200

    fresh = "a brand new password"
    changed = client.patch("/api/v1/users/sam", headers=bearer(admin), json={"password": fresh})
    assert changed.status_code == 200

    for token in (sam_token, sam_second_token):
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert client.post("/api/v1/login", json=right).status_code == 401  # the old password
    after = client.post("/api/v1/login", json={"username": "sam", "password": fresh})
    assert after.status_code == 200
    assert client.get("/api/v1/me", headers=bearer(after.json["token"])).status_code == 200
    # Only the changed user's tokens go.
    assert client.get("/api/v1/me", headers=bearer(admin)).status_code == 200


def test_administrator_changes_a_users_name_role_and_crews(client, db):
    jurisdiction = make_jurisdiction(db)
    agency = make_agency(db, jurisdiction, "BSS")
    cd1, cd2 = make_crew(db, agency, "CD1"), make_crew(db, agency, "CD2")
    pat, pat_token = make_staff(db, StaffRole.crew_member, "pat", crews=[cd1])
    _admin, admin = make_staff(db, StaffRole.administrator, "ada")

    renamed = client.patch(
        "/api/v1/users/pat",
        headers=bearer(admin),
        json={"display_name": "Pat Quinn", "crew_ids": [cd2.id]},
    )
    assert renamed.status_code == 200, renamed.json
    assert renamed.json["display_name"] == "Pat Quinn"
    assert renamed.json["role"] == "crew_member"
    assert [crew["code"] for crew in renamed.json["crews"]] == ["CD2"]
    # Pat's own view agrees, and a change of name or crews leaves pat signed in.
    me = client.get("/api/v1/me", headers=bearer(pat_token))
    assert me.status_code == 200
    assert (me.json["display_name"], [c["code"] for c in me.json["crews"]]) == (
        "Pat Quinn",
        ["CD2"],
    )

    promoted = client.patch(
        "/api/v1/users/pat", headers=bearer(admin), json={"role": "supervisor", "crew_ids": []}
    )
    assert promoted.status_code == 200, promoted.json
    assert (promoted.json["role"], promoted.json["crews"]) == ("supervisor", [])
    db.refresh(pat)
    assert (pat.display_name, pat.role, pat.crews) == ("Pat Quinn", StaffRole.supervisor, [])
    assert client.get("/api/v1/me", headers=bearer(pat_token)).json["role"] == "supervisor"


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"role": "crew_member"}, "crew"),  # a crew member without a crew
        ({"crew_ids": [0]}, "crew"),
        ({"role": "mayor"}, "role"),
        ({"display_name": ""}, "display_name"),
    ],
)
def test_bad_user_changes_are_400_and_change_nothing(client, db, change, problem):
    sam, _token = make_staff(db, StaffRole.supervisor, "sam")
    _admin, admin = make_staff(db, StaffRole.administrator, "ada")
    response = client.patch("/api/v1/users/sam", headers=bearer(admin), json=change)
    assert response.status_code == 400, response.json
    assert problem in response.json[0]["description"]
    db.refresh(sam)
    assert (sam.display_name, sam.role, sam.crews) == ("sam", StaffRole.supervisor, [])


def test_changing_an_unknown_user_is_404(client, db):
    _admin, admin = make_staff(db, StaffRole.administrator, "ada")
    response = client.patch(
        "/api/v1/users/nobody", headers=bearer(admin), json={"role": "supervisor"}
    )
    assert response.status_code == 404
