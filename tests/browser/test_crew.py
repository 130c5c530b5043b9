"""A crew member on a phone: a request filed through the public API comes to the top of the
board (sorted by the phone's position), is started and finished with a note and a photo, and the
resident's page shows it closed with that note."""

from __future__ import annotations

import io
import time

import requests
from PIL import Image
from selenium.webdriver.common.by import By
from sqlalchemy.orm import Session

from open311.db.session import make_engine
from open311.values import StaffRole
from tests.browser.conftest import PASSWORD
from tests.browser.helpers import PHONE, check_page, wait_for
from tests.factories import make_api_key

# A wall near Los Angeles City Hall (Council District 14); the phone stands here too.
SPOT = (34.053612, -118.242871)
NEAR = (34.0590, -118.2429)  # 600 m north
FAR = (34.0536, -118.2210)  # 2 km east
NOTE = "Graffiti painted over, wall matches again."


def _api_key(database_url: str) -> str:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            key = make_api_key(session, "crew board test")
            session.commit()
    finally:
        engine.dispose()
    return key


def _file_graffiti(site, key: str, where: tuple[float, float], address: str) -> str:
    answer = requests.post(
        site.url("/open311/v2/requests.json"),
        data={
            "api_key": key,
            "jurisdiction_id": "lacity.org",
            "service_code": "GRAFFITI",
            "lat": where[0],
            "long": where[1],
            "address_string": address,
            "description": "Tag on the wall by the bus stop",
            "attribute[SURFACE]": "WALL",
        },
        timeout=30,
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()[0]["service_request_id"]


def _card(driver, service_request_id: str):
    return driver.find_element(
        By.XPATH,
        f"//li[contains(@class,'crew-card')][.//a[@href='/requests/{service_request_id}']]",
    )


def _assert_no_sideways_scroll(driver) -> None:
    """Nothing is wider than the phone's screen (the elements that are, if any, named)."""
    wide = driver.execute_script(
        "const w = document.documentElement.clientWidth;"
        "return [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > w + 1)"
        ".map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"
        ".slice(0, 10);"
    )
    assert not wide, wide


def test_a_crew_member_closes_a_request_and_the_resident_sees_it(phone, site, tmp_path):
    key = _api_key(site.database_url)
    service_request_id = _file_graffiti(site, key, SPOT, "200 N Spring St, Los Angeles")
    # Two more, farther away: the board lists them after it.
    farther = [
        _file_graffiti(site, key, where, address)
        for where, address in (
            (FAR, "1st St & Alameda St, Los Angeles"),
            (NEAR, "Temple St & Broadway, Los Angeles"),
        )
    ]
    driver = phone
    driver.get(site.url("/assets/site.css"))
    driver.delete_all_cookies()
    driver.get_log("browser")
    # The phone knows where it is: the board asks and sorts by it.
    driver.execute_cdp_cmd(
        "Browser.grantPermissions", {"origin": site.root, "permissions": ["geolocation"]}
    )
    driver.execute_cdp_cmd(
        "Emulation.setGeolocationOverride",
        {"latitude": SPOT[0], "longitude": SPOT[1], "accuracy": 10},
    )
    # Headless Chromium's window is at least 500 pixels wide: the phone's 390 are emulated.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        _close_on_the_phone(driver, site, service_request_id, farther[::-1], tmp_path)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_cdp_cmd("Emulation.clearGeolocationOverride", {})


def _close_on_the_phone(
    driver, site, service_request_id: str, farther: list[str], tmp_path
) -> None:

    driver.get(site.url("/staff/crew"))
    wait_for(driver, "#username")
    # The sign-in page is not this test's: its browser's request of /favicon.ico (404) is not
    # this page's error.
    time.sleep(0.5)
    driver.get_log("browser")
    driver.find_element(By.ID, "username").send_keys(site.users[StaffRole.crew_member])
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.stacked button[type=submit]").click()
    wait_for(driver, ".crew-card")
    wait_for(driver, ".crew-order a")  # "Forget my position": the board sorted by the phone's
    first = driver.find_element(By.CSS_SELECTOR, ".crew-card")
    assert f"/requests/{service_request_id}" in first.get_attribute("innerHTML")
    assert "0 m away" in first.text
    listed = [
        link.get_attribute("href").rsplit("/", 1)[-1]
        for link in driver.find_elements(By.CSS_SELECTOR, ".crew-card .crew-facts a")
    ]
    mine = [found for found in listed if found in (service_request_id, *farther)]
    assert mine == [service_request_id, *farther]
    check_page(driver, "crew-board")
    _assert_no_sideways_scroll(driver)

    _card(driver, service_request_id).find_element(By.XPATH, ".//button[.='Start']").click()
    wait_for(driver, ".notice[role=status]")
    card = _card(driver, service_request_id)
    assert "In progress" in card.text
    check_page(driver, "crew-board-started")

    card.find_element(By.LINK_TEXT, "Finish").click()
    wait_for(driver, "#public_note")
    check_page(driver, "crew-finish")
    _assert_no_sideways_scroll(driver)
    driver.find_element(By.CSS_SELECTOR, "form.crew-finish button[type=submit]").click()
    # The browser's own check stops an empty note; the server's is in tests/web.
    assert driver.find_element(By.ID, "public_note").get_attribute("validationMessage")

    # A file that is not a photo: the server says so by the field, and the note is kept.
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("not a photo")
    driver.find_element(By.ID, "public_note").send_keys(NOTE)
    driver.find_element(By.ID, "media").send_keys(str(not_a_photo))
    driver.find_element(By.CSS_SELECTOR, "form.crew-finish button[type=submit]").click()
    wait_for(driver, "#media-error")
    assert driver.find_element(By.ID, "public_note").get_attribute("value") == NOTE
    check_page(driver, "crew-finish-errors")
    _assert_no_sideways_scroll(driver)

    photo = tmp_path / "wall.jpg"
    image = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 200, 190)).save(image, "JPEG")
    photo.write_bytes(image.getvalue())
    driver.find_element(By.ID, "media").send_keys(str(photo))
    driver.find_element(By.CSS_SELECTOR, "form.crew-finish button[type=submit]").click()
    notice = wait_for(driver, ".notice[role=status]")
    assert notice.text.startswith("Finished:")
    assert not driver.find_elements(
        By.XPATH,
        f"//li[contains(@class,'crew-card')][.//a[@href='/requests/{service_request_id}']]",
    )
    check_page(driver, "crew-board-finished")

    # Position forgotten (the tab asked once already): due order, the place field open.
    driver.find_element(By.LINK_TEXT, "Forget my position").click()
    wait_for(driver, "#near")
    assert "Overdue first" in driver.find_element(By.ID, "crew-order").text
    check_page(driver, "crew-board-due-order")
    _assert_no_sideways_scroll(driver)

    driver.get(site.url(f"/requests/{service_request_id}"))
    wait_for(driver, "main h1")
    body = driver.find_element(By.TAG_NAME, "main").text
    assert "Closed" in body and NOTE in body
    check_page(driver, "crew-request-closed")
    public = requests.get(
        site.url(f"/open311/v2/requests/{service_request_id}.json"), timeout=10
    ).json()[0]
    assert public["status"] == "closed" and public["status_notes"] == NOTE
    assert public["media_url"]
