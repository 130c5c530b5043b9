"""The supervisor in a real browser: the queue and its map, a crew's queue, a work order
reassigned, and the dashboard with its charts drawn."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select

from open311 import clock
from open311.db import work_queries
from open311.db.models import Contact, Jurisdiction
from open311.db.session import make_engine, make_session_factory
from open311.domain import intake, workflow
from open311.values import StaffRole
from tests.browser.conftest import PASSWORD
from tests.browser.helpers import WAIT_S, check_page, wait_for

# Graffiti in three parts of Los Angeles: each routed to its council district's crew.
PLACES = ((34.0522, -118.2437), (34.0983, -118.3267), (33.9850, -118.4695))


@pytest.fixture(scope="module")
def graffiti(site) -> Iterator[None]:
    """Open work orders of this module's own: the demo's history has none."""
    engine = make_engine(site.database_url)
    with make_session_factory(engine)() as session:
        city = session.scalars(
            select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "lacity.org")
        ).one()
        for lat, long in PLACES:
            submission = intake.Submission(
                service_code="GRAFFITI",
                lat=lat,
                long=long,
                description="Tags on the wall",
                attributes={"SURFACE": ["WALL"]},
            )
            filed = intake.submit(session, city, None, submission, clock.now())
        # Something for the dashboard to draw: the last one done, and a few calls of today.
        session.flush()
        (order,) = work_queries.find_open_work_orders(session, filed)
        for state in ("in_progress", "done"):
            workflow.transition(session, order, state, actor="staff:test", now=clock.now())
        for minutes, channel, wait in ((90, "phone", 20), (60, "phone", 75), (30, "email", None)):
            queued = clock.now() - timedelta(minutes=minutes)
            session.add(
                Contact(
                    jurisdiction_id=city.id,
                    channel=channel,
                    queued_at=queued,
                    answered_at=queued + timedelta(seconds=wait) if wait else None,
                    ended_at=queued + timedelta(minutes=5),
                    abandoned=wait is None,
                )
            )
        session.commit()
    engine.dispose()
    yield


def sign_in(driver, site, role: StaffRole, next_path: str) -> None:
    driver.get(site.url(next_path))
    wait_for(driver, "#username").send_keys(site.users[role])
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.stacked button[type=submit]").click()


def test_a_supervisor_filters_the_queue_reassigns_and_reads_the_dashboard(
    fresh_browser, site, graffiti
) -> None:
    driver = fresh_browser
    sign_in(driver, site, StaffRole.supervisor, "/staff/queues")
    wait_for(driver, "table.queue")
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, "queue-map").get_attribute("data-ready") == "true"
    )
    check_page(driver, "supervisor-queue")

    # A crew's queue: the crew of the first row, chosen in the filter form.
    crew = driver.find_element(By.CSS_SELECTOR, "tr.queue-row td:nth-child(4)").text
    chooser = Select(driver.find_element(By.ID, "queue-crew"))
    option = next(o for o in chooser.options if o.text.endswith(f" · {crew}"))
    crew_id = option.get_attribute("value")
    chooser.select_by_value(crew_id)
    driver.find_element(By.CSS_SELECTOR, "form.queue-filters button").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: f"crew={crew_id}" in d.current_url)
    wait_for(driver, "table.queue")
    shown = {
        cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "tr.queue-row td:nth-child(4)")
    }
    assert shown == {crew}
    driver.execute_script("document.getElementById('queue-heading').scrollIntoView()")
    check_page(driver, "supervisor-queue-crew")

    # Its first work order, given to another crew of the agency.
    driver.find_element(By.CSS_SELECTOR, "tr.queue-row td a").click()
    wait_for(driver, "#reassign-crew")
    check_page(driver, "supervisor-work-order")
    reassign = Select(driver.find_element(By.ID, "reassign-crew"))
    other = next(o for o in reassign.options if o.get_attribute("value") and "(now)" not in o.text)
    name = other.text.split(" · ", 1)[1]
    reassign.select_by_value(other.get_attribute("value"))
    driver.find_element(By.ID, "reassign-note").send_keys("Rebalancing the crews")
    driver.find_element(By.CSS_SELECTOR, "form[action$='/reassign'] button").click()
    notice = wait_for(driver, "p.notice")
    assert f"is now with {name}." in notice.text
    assert driver.find_element(By.ID, "current-crew").text == name
    assert "Rebalancing the crews" in driver.find_element(By.CSS_SELECTOR, "ol.history").text
    check_page(driver, "supervisor-reassigned")
    driver.execute_script("document.getElementById('add-heading').scrollIntoView()")
    check_page(driver, "supervisor-work-order-forms")

    # A merge into a request that does not exist: said next to the field, nothing done.
    driver.find_element(By.ID, "merge-parent").send_keys("999999999")
    driver.find_element(By.CSS_SELECTOR, "form[action$='/merge'] button").click()
    problem = wait_for(driver, "#merge-parent-error")
    assert "No request 999999999" in problem.text
    assert driver.find_element(By.ID, "merge-parent").get_attribute("value") == "999999999"
    driver.execute_script("document.getElementById('merge-heading').scrollIntoView()")
    check_page(driver, "supervisor-work-order-refused")

    # The dashboard: tables, and the three charts drawn for the signed-in user.
    driver.find_element(By.LINK_TEXT, "Dashboard").click()
    wait_for(driver, "#work-order-figures")
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script(
            "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"
        )
    )
    assert len(driver.find_elements(By.CSS_SELECTOR, "figure.chart img")) == 3
    check_page(driver, "supervisor-dashboard")
    driver.execute_script("document.getElementById('crews-heading').scrollIntoView()")
    check_page(driver, "supervisor-dashboard-crews")
