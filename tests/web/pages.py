"""Test-client helpers for the pages: the CSRF token a form carries, and signing in to the
staff console the way a browser does (GET the form, POST it with its token)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the first form on the page at `path` (bound to the client's session)."""
    page = client.get(path)
    found = TOKEN.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str) -> None:
    """Sign `client` in to the console; asserts it worked (303 to the console)."""
    token = csrf_token(client, "/staff/sign-in")
    answer = client.post(
        "/staff/sign-in", data={"username": username, "password": password, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
