"""The pages as a resident and the city's staff see them: the three demo cities served as
`make run` serves them (nginx in front of gunicorn, so the headers are production's), one
headless Chromium per pytest worker, and a user of each staff role.

Every module here runs on one worker (their xdist group), which seeds and starts the site once;
what one module files or closes is its own (new requests, in the present), so the others' checks
do not depend on their order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import select

from open311.db.models import Agency, Crew, Jurisdiction
from open311.db.session import make_engine, make_session_factory
from open311.demo.austin import seed_austin
from open311.demo.new_york import seed_new_york
from open311.demo.seed import seed_demo_city
from open311.domain import staff
from open311.values import CrewKind, StaffRole
from tests.browser.helpers import DESKTOP, PHONE, start_chromium
from tests.e2e.helpers import served
from tests.helpers import scratch_database

# The driver's protocol at DEBUG would fill a failure's report with every command's JSON.
logging.getLogger("selenium").setLevel(logging.WARNING)
logging.getLogger("urllib3").setLevel(logging.WARNING)

PASSWORD = "browser tests 311 pass"  # every test user's; the site is a throwaway


@dataclass(frozen=True)
class Site:
    """The running site: its root URL, its database, and a user name per role (PASSWORD)."""

    root: str
    database_url: str
    users: dict[StaffRole, str]
    workdir: Path

    def url(self, path: str) -> str:
        return f"{self.root}{path}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("browser"))


def _make_users(session) -> dict[StaffRole, str]:
    """A user of each role for Los Angeles; the crew member belongs to every field crew of the
    city, so whichever crew a request is routed to, they see its work order."""
    los_angeles = session.scalars(
        select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "lacity.org")
    ).one()
    crews = session.scalars(
        select(Crew)
        .join(Agency)
        .where(Agency.jurisdiction_id == los_angeles.id, Crew.kind == CrewKind.field)
    ).all()
    users = {}
    for role in StaffRole:
        name = f"web-{role.value.replace('_', '-')}"
        staff.create_user(
            session,
            name,
            password=PASSWORD,
            role=role,
            display_name=f"Test {role.value.replace('_', ' ')}",
            crews=crews if role == StaffRole.crew_member else (),
            jurisdictions=[los_angeles],
        )
        users[role] = name
    return users


@pytest.fixture(scope="session")
def site(database_url: str, tmp_path_factory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("site")
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            seed_demo_city(session)
            seed_new_york(session)
            seed_austin(session)
            users = _make_users(session)
            session.commit()
        engine.dispose()
        env = {
            "OPEN311_SECRET_KEY": "browser-tests-secret",
            "OPEN311_MEDIA_DIR": str(workdir / "media"),
            "OPEN311_RATE_LIMITS": "off",
        }
        with served(url, workdir, proxy=True, as_make_run=True, **env) as server:
            root = server.base.removesuffix("/open311/v2")
            yield Site(root, url, users, workdir)


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """A desktop-sized Chromium for the session (cookies cleared by `fresh_browser`)."""
    driver = start_chromium(DESKTOP)
    yield driver
    driver.quit()


@pytest.fixture
def fresh_browser(browser: WebDriver, site: Site) -> WebDriver:
    """The session's browser signed out, with no cookie of the site and no console entries."""
    browser.get(site.url("/assets/site.css"))
    browser.delete_all_cookies()
    browser.get_log("browser")
    return browser


@pytest.fixture(scope="session")
def phone() -> Iterator[WebDriver]:
    """A phone-sized Chromium (the crew's board)."""
    driver = start_chromium(PHONE)
    yield driver
    driver.quit()
