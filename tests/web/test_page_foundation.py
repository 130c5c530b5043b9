"""What every page keeps to, whichever face it belongs to: its headers (a policy with no inline
script, no framing), its errors as pages in the reader's language, CSRF on every POST, the
console's sign-in and sign-out through the staff accounts, the session cookie's flags, and the
browser libraries served from this host only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from open311.db.models import StaffToken
from open311.domain import staff
from open311.values import StaffRole
from tests.factories import make_jurisdiction
from tests.web.pages import csrf_token, sign_in

PASSWORD = "pages foundation 311"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PAGES = ["/", "/report", "/kb", "/city", "/docs", "/staff/sign-in"]


@pytest.fixture
def city(db):
    return make_jurisdiction(db, jurisdiction_id="pages.example.org")


@pytest.fixture
def supervisor(db, city):
    return staff.create_user(
        db, "sam", password=PASSWORD, role=StaffRole.supervisor, jurisdictions=[city]
    )


@pytest.fixture
def editor(db, city):
    return staff.create_user(
        db, "eve", password=PASSWORD, role=StaffRole.editor, jurisdictions=[city]
    )


@pytest.mark.parametrize("path", PAGES)
def test_every_page_forbids_inline_script_framing_and_referrers_to_other_sites(client, path):
    answer = client.get(path)
    policy = answer.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in policy
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in answer.get_data(as_text=True)


def test_a_basemap_host_is_the_only_other_host_the_policy_allows(app, client):
    app.config["OPEN311_BASEMAP_URL"] = "https://tiles.example.net/{z}/{x}/{y}.png"
    policy = client.get("/docs").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://tiles.example.net;" in policy
    assert "connect-src 'self' https://tiles.example.net;" in policy
    assert policy.count("example.net") == 2


def test_a_lost_browser_gets_an_error_page_and_an_api_client_its_format(client):
    page = client.get("/staff/no-such-screen", headers=BROWSER)
    assert page.status_code == 404
    assert page.content_type == "text/html; charset=utf-8"
    assert "Content-Security-Policy" in page.headers
    assert client.get("/staff/no-such-screen").content_type.startswith("text/xml")
    api = client.get("/open311/v2/nothing.json", headers=BROWSER)
    assert api.status_code == 404 and api.is_json


def test_errors_are_told_in_the_readers_language_and_direction(client, supervisor):
    page = client.get("/staff/no-such-screen?locale=ar", headers=BROWSER)
    text = page.get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in text
    assert page.headers["Content-Language"] == "ar"


def test_the_language_chosen_is_remembered_for_the_next_pages(client):
    first = client.get("/staff/sign-in?locale=es").get_data(as_text=True)
    assert '<html lang="es" dir="ltr">' in first
    again = client.get("/staff/sign-in").get_data(as_text=True)
    assert '<html lang="es" dir="ltr">' in again
    asked = client.get("/staff/sign-in", headers={"Accept-Language": "vi"})
    assert '<html lang="es"' in asked.get_data(as_text=True)  # the choice outranks the header


def test_accept_language_chooses_when_nothing_was_chosen(client):
    page = client.get("/staff/sign-in", headers={"Accept-Language": "ko-KR, en;q=0.5"})
    assert '<html lang="ko" dir="ltr">' in page.get_data(as_text=True)
    assert "Accept-Language" in page.headers["Vary"]


def test_sign_in_with_a_staff_account_opens_the_screens_of_the_role(client, supervisor):
    assert client.get("/staff").status_code == 302
    sign_in(client, "sam", PASSWORD)
    home = client.get("/staff")
    assert home.status_code == 200
    text = home.get_data(as_text=True)
    assert "Signed in as sam (supervisor)" in text
    assert 'action="/staff/sign-out"' in text


def test_a_wrong_password_says_nothing_of_which_part_was_wrong_and_counts(db, client, supervisor):
    token = csrf_token(client, "/staff/sign-in")
    form = {"username": "sam", "password": "not it at all", "csrf_token": token}
    wrong = client.post("/staff/sign-in", data=form)
    assert wrong.status_code == 401
    text = wrong.get_data(as_text=True)
    assert "Wrong username or password, or the account is locked." in text
    assert "not it at all" not in text
    unknown = client.post("/staff/sign-in", data=form | {"username": "nobody"})
    assert unknown.status_code == 401
    assert "Wrong username or password" in unknown.get_data(as_text=True)
    db.refresh(supervisor)
    assert supervisor.failed_logins == 1
    assert client.get("/staff").status_code == 302  # still signed out


def test_sign_out_revokes_the_token_the_cookie_carried(db, client, supervisor):
    sign_in(client, "sam", PASSWORD)
    token = csrf_token(client, "/staff")
    out = client.post("/staff/sign-out", data={"csrf_token": token})
    assert out.status_code == 303
    revoked = db.scalars(select(StaffToken).where(StaffToken.staff_user_id == supervisor.id)).all()
    assert len(revoked) == 1 and revoked[0].revoked_at is not None
    assert client.get("/staff").status_code == 302


def test_a_revoked_or_expired_token_signs_the_browser_out(db, client, supervisor):
    sign_in(client, "sam", PASSWORD)
    staff.revoke_all(db, supervisor, now=datetime.now(UTC))
    db.flush()
    answer = client.get("/staff")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/staff/sign-in")


def test_sign_in_goes_back_to_the_page_wanted_on_this_site_only(client, supervisor):
    wanted = client.get("/staff")
    assert wanted.headers["Location"] == "/staff/sign-in?next=/staff"
    for target, landing in (
        ("/staff", "/staff"),
        ("https://evil.example/steal", "/staff"),
        ("//evil.example/steal", "/staff"),
        ("javascript:alert(1)", "/staff"),
    ):
        client.delete_cookie("open311_session")
        token = csrf_token(client, "/staff/sign-in")
        form = {"username": "sam", "password": PASSWORD, "csrf_token": token, "next": target}
        answer = client.post("/staff/sign-in", data=form)
        assert answer.status_code == 303
        assert answer.headers["Location"] == landing


def test_a_post_without_the_csrf_token_is_refused_and_does_nothing(db, client, supervisor):
    answer = client.post("/staff/sign-in", data={"username": "sam", "password": PASSWORD})
    assert answer.status_code == 400
    assert "This form has expired or did not come from this site" in answer.get_data(as_text=True)
    assert db.scalars(select(StaffToken)).all() == []
    sign_in(client, "sam", PASSWORD)
    kept = client.post("/staff/sign-out", data={})
    assert kept.status_code == 400
    assert client.get("/staff").status_code == 200  # still signed in


def test_a_token_of_another_session_is_refused(app, client, supervisor):
    other = app.test_client()
    token = csrf_token(other, "/staff/sign-in")
    form = {"username": "sam", "password": PASSWORD, "csrf_token": token}
    assert client.post("/staff/sign-in", data=form).status_code == 400


def test_a_role_without_a_screen_is_refused_it_with_a_page(client, editor):
    sign_in(client, "eve", PASSWORD)
    home = client.get("/staff").get_data(as_text=True)
    assert "Your role works through the staff API" in home


def test_the_session_cookie_is_httponly_samesite_and_secure_over_tls(app, client):
    plain = client.get("/staff/sign-in")
    cookie = plain.headers["Set-Cookie"]
    assert cookie.startswith("open311_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    tls = app.test_client().get("/staff/sign-in", base_url="https://localhost")
    assert "; Secure" in tls.headers["Set-Cookie"]


def test_only_the_listed_browser_libraries_are_served(client):
    for name in ("maplibre-gl.js", "maplibre-gl-csp-worker.js", "swagger-ui-bundle.js"):
        with client.get(f"/assets/vendor/{name}") as script:
            assert script.status_code == 200
            assert script.content_type.startswith("text/javascript")
            assert "max-age=86400" in script.headers["Cache-Control"]
    for refused in (
        "/assets/vendor/package.json",
        "/assets/vendor/..%2F..%2Fpackage.json",
        "/assets/..%2F..%2Fconfig.py",
        "/assets/../pages.py",
    ):
        assert client.get(refused).status_code == 404, refused


def test_the_icon_a_browser_asks_for_by_itself_is_there(client):
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200
        assert icon.content_type == "image/svg+xml; charset=utf-8"
