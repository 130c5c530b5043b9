"""A call-taker takes a phone request: chooses the service, places the caller's point where the
Los Angeles demo already has an open request of it, sees the duplicate warning (list and map),
searches the knowledge base and uses an answer, files, and reads the confirmation."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from open311.values import StaffRole
from tests.browser.conftest import PASSWORD
from tests.browser.helpers import WAIT_S, check_page, wait_for

SERVICE = "GRAFFITI"


def _open_request(site) -> dict:
    """An open Graffiti Removal request of the demo with a point, found as anyone would."""
    answer = requests.get(
        site.url("/open311/v2/requests.json"),
        params={"jurisdiction_id": "lacity.org", "service_code": SERVICE, "status": "open"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    located = [item for item in answer.json() if item.get("lat") is not None]
    assert located, "the demo has no open graffiti request with a point"
    return located[0]


def _reloaded(driver: WebDriver, action) -> None:
    """Do `action`, which sends the form, and wait for the new page."""
    old = driver.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(driver, WAIT_S).until(expected_conditions.staleness_of(old))


def _sign_in(driver: WebDriver, site) -> None:
    driver.get(site.url("/staff/intake"))
    wait_for(driver, "#username").send_keys(site.users[StaffRole.call_taker])
    driver.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    wait_for(driver, "#intake-map canvas")


def test_a_phone_call_with_a_duplicate_warning_and_a_kb_answer(fresh_browser, site):
    driver = fresh_browser
    existing = _open_request(site)
    _sign_in(driver, site)
    check_page(driver, "intake")

    # Choosing the service redraws the screen with its questions.
    _reloaded(
        driver,
        lambda: Select(driver.find_element(By.ID, "f-service_code")).select_by_value(SERVICE),
    )
    wait_for(driver, "#q-SURFACE")

    # Filed too soon: each problem next to its field, nothing stored.
    _reloaded(driver, driver.find_element(By.ID, "file-request").click)
    assert "Nothing was saved" in wait_for(driver, ".problems").text
    assert "location is required" in driver.find_element(By.CSS_SELECTOR, "fieldset.place").text
    check_page(driver, "intake-errors")
    Select(wait_for(driver, "#q-SURFACE")).select_by_value("WALL")

    # A click on the map places a point; then the caller gives the exact place.
    driver.find_element(By.CSS_SELECTOR, "#intake-map canvas").click()
    assert driver.find_element(By.ID, "f-lat").get_attribute("value")
    for field, value in (("f-lat", existing["lat"]), ("f-long", existing["long"])):
        box = driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(f"{value:.6f}" + Keys.TAB)
    warning = wait_for(driver, ".duplicate-warning")
    assert "Possible duplicate" in warning.text
    wait_for(driver, f"li.nearby[data-id='{existing['service_request_id']}']")
    wait_for(driver, ".map-marker.nearby")
    driver.find_element(By.ID, "f-address_string").send_keys(
        existing.get("address") or "At the pin"
    )
    driver.find_element(By.ID, "f-description").send_keys(
        "Caller says the tag is new, on the shop wall"
    )
    driver.find_element(By.ID, "f-first_name").send_keys("Marguerite")
    driver.find_element(By.ID, "f-phone").send_keys("+1 310 555 0142")
    driver.execute_script("window.scrollTo(0, 0)")
    check_page(driver, "intake-duplicate")

    # The knowledge base: search, then say which answer the caller was given.
    driver.find_element(By.ID, "f-q").send_keys("graffiti")
    _reloaded(driver, driver.find_element(By.ID, "kb-search").click)
    used = wait_for(driver, "button[name='use_article'][value='graffiti-removal']")
    assert (
        "Office of Community Beautification"
        in driver.find_element(By.CSS_SELECTOR, ".kb-results").text
    )
    wait_for(driver, ".duplicate-warning")  # still warned after the round trip
    driver.execute_script("document.getElementById('kb-title').scrollIntoView()")
    check_page(driver, "intake-kb")
    _reloaded(driver, used.click)
    assert "Get graffiti removed" in wait_for(driver, "#answers-used").text

    # File anyway: the confirmation names the new request.
    _reloaded(driver, driver.find_element(By.ID, "file-request").click)
    confirmation = wait_for(driver, ".confirmation")
    link = confirmation.find_element(By.CSS_SELECTOR, "a[href^='/requests/']")
    filed = link.get_attribute("href").rsplit("/", 1)[-1]
    assert f"Request {filed} filed." in confirmation.text
    assert "Likely duplicate of" in confirmation.text
    check_page(driver, "intake-filed")
    public = requests.get(
        site.url(f"/open311/v2/requests/{filed}.json"),
        params={"jurisdiction_id": "lacity.org"},
        timeout=30,
    ).json()[0]
    assert public["service_code"] == SERVICE and public["status"] == "open"
    assert "Marguerite" not in str(public) and "555" not in str(public)

    # Next call: an empty form.
    _reloaded(driver, driver.find_element(By.ID, "next-call").click)
    assert wait_for(driver, "#f-description").get_attribute("value") == ""
