"""One request's whole life through the faces, as the issue tells it: a resident files it with a
photo through the form and finds it on the map and on its page; a call-taker takes a phone call
about the same graffiti, is warned of the duplicate, answers from the knowledge base and records
the call on the resident's request; a crew member closes it from a phone; the resident's page
then shows the closure and the crew's note.

The other browser modules look at each face in detail; this one checks that they hand the same
request on to each other."""

from __future__ import annotations

import io

import requests
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from open311.values import StaffRole
from tests.browser.conftest import PASSWORD, Site
from tests.browser.helpers import PHONE, WAIT_S, check_page, wait_for

CITY = "lacity.org"
SERVICE = "GRAFFITI"
NOTE = "Painted over the tag on the shop wall; the owner was told."

WHEN_IDLE = """
const done = arguments[arguments.length - 1];
const map = document.getElementById("map").map;
if (map.loaded() && map.areTilesLoaded() && !map.isMoving()) { done(true); return; }
map.once("idle", () => done(true));
"""
DRAWN_IDS = """
return document.getElementById("map").map
    .queryRenderedFeatures({layers: ["request-points"]})
    .map(f => String(f.properties.service_request_id));
"""


def _reloaded(driver: WebDriver, action) -> None:
    """Do `action`, which sends a form, and wait for the new page."""
    old = driver.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(driver, WAIT_S).until(expected_conditions.staleness_of(old))


def _public(site: Site, service_request_id: str) -> dict:
    answer = requests.get(
        site.url(f"/open311/v2/requests/{service_request_id}.json"),
        params={"jurisdiction_id": CITY},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()[0]


def _sign_in(driver: WebDriver, site: Site, path: str, role: StaffRole) -> None:
    driver.get(site.url(path))
    wait_for(driver, "#username").send_keys(site.users[role])
    _reloaded(
        driver, lambda: driver.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    )


def resident_files(driver: WebDriver, site: Site, photo) -> str:
    driver.get(site.url(f"/report/{SERVICE}?jurisdiction_id={CITY}"))
    Select(wait_for(driver, "[name='attribute[SURFACE]']")).select_by_value("WALL")
    driver.find_element(By.ID, "description").send_keys("Fresh tag on the shop wall")
    canvas = wait_for(driver, "#picker canvas")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    ActionChains(driver).move_to_element(canvas).click().perform()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, "lat").get_attribute("value") != ""
    )
    driver.find_element(By.ID, "media").send_keys(str(photo))
    _reloaded(driver, driver.find_element(By.CSS_SELECTOR, "form.report button[type=submit]").click)
    notice = wait_for(driver, ".notice[role=status]")
    link = notice.find_element(By.CSS_SELECTOR, "a[href*='/requests/']")
    return link.get_attribute("href").rstrip("/").rsplit("/", 1)[-1]


def resident_finds_it_on_the_map(driver: WebDriver, site: Site, filed: dict) -> None:
    driver.get(site.url(f"/?jurisdiction_id={CITY}"))
    # The plain list beside the map (what a screen reader reads) has it first.
    newest = wait_for(driver, f".newest a[href='/requests/{filed['service_request_id']}']")
    assert newest
    wait_for(driver, "#map canvas")
    driver.set_script_timeout(WAIT_S)
    driver.execute_script(
        "document.getElementById('map').map.jumpTo({center: [arguments[0], arguments[1]],"
        " zoom: 18})",
        filed["long"],
        filed["lat"],
    )
    driver.execute_async_script(WHEN_IDLE)
    assert filed["service_request_id"] in driver.execute_script(DRAWN_IDS)
    check_page(driver, "walkthrough-map")


def call_taker_records_the_call_on_it(driver: WebDriver, site: Site, filed: dict) -> None:
    _sign_in(driver, site, "/staff/intake", StaffRole.call_taker)
    wait_for(driver, "#intake-map canvas")
    _reloaded(
        driver,
        lambda: Select(driver.find_element(By.ID, "f-service_code")).select_by_value(SERVICE),
    )
    Select(wait_for(driver, "#q-SURFACE")).select_by_value("WALL")
    for field, value in (("f-lat", filed["lat"]), ("f-long", filed["long"])):
        box = driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(f"{value:.6f}" + Keys.TAB)
    warning = wait_for(driver, ".duplicate-warning")
    assert "Possible duplicate" in warning.text
    ours = wait_for(driver, f"li.nearby[data-id='{filed['service_request_id']}']")
    assert ours
    driver.find_element(By.ID, "f-first_name").send_keys("Marguerite")
    driver.find_element(By.ID, "f-phone").send_keys("+1 310 555 0142")
    driver.find_element(By.ID, "f-q").send_keys("graffiti")
    _reloaded(driver, driver.find_element(By.ID, "kb-search").click)
    answer = wait_for(driver, "button[name='use_article'][value='graffiti-removal']")
    _reloaded(driver, answer.click)
    assert "Get graffiti removed" in wait_for(driver, "#answers-used").text
    check_page(driver, "walkthrough-intake")
    attach = wait_for(
        driver, f"li.nearby[data-id='{filed['service_request_id']}'] button[name='attach']"
    )
    _reloaded(driver, attach.click)
    done = wait_for(driver, ".confirmation")
    assert f"The call was recorded on request {filed['service_request_id']}." in done.text
    check_page(driver, "walkthrough-intake-recorded")


def crew_member_closes_it(driver: WebDriver, site: Site, filed: dict) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        _sign_in(
            driver, site, f"/staff/crew?near={filed['lat']},{filed['long']}", StaffRole.crew_member
        )
        card = wait_for(
            driver, f".crew-card:has(a[href='/requests/{filed['service_request_id']}'])"
        )
        _reloaded(driver, card.find_element(By.XPATH, ".//button[.='Start']").click)
        card = wait_for(
            driver, f".crew-card:has(a[href='/requests/{filed['service_request_id']}'])"
        )
        _reloaded(driver, card.find_element(By.LINK_TEXT, "Finish").click)
        wait_for(driver, "#public_note").send_keys(NOTE)
        _reloaded(
            driver,
            driver.find_element(By.CSS_SELECTOR, "form.crew-finish button[type=submit]").click,
        )
        wait_for(driver, ".notice[role=status]")
        check_page(driver, "walkthrough-crew-finished")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_a_request_from_the_residents_form_to_its_closure(fresh_browser, site, tmp_path):
    driver = fresh_browser
    photo = tmp_path / "tag.jpg"
    image = io.BytesIO()
    Image.new("RGB", (320, 240), (40, 90, 160)).save(image, "JPEG")
    photo.write_bytes(image.getvalue())

    service_request_id = resident_files(driver, site, photo)
    filed = _public(site, service_request_id)
    assert filed["status"] == "open" and filed["lat"] is not None
    resident_finds_it_on_the_map(driver, site, filed)
    driver.get(site.url(f"/requests/{service_request_id}"))
    photo_shown = wait_for(driver, "img.photo")
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script("return arguments[0].naturalWidth", photo_shown) > 0
    )

    driver.delete_all_cookies()
    call_taker_records_the_call_on_it(driver, site, filed)
    assert "Marguerite" not in str(_public(site, service_request_id))

    driver.delete_all_cookies()
    crew_member_closes_it(driver, site, filed)

    driver.delete_all_cookies()
    driver.get(site.url(f"/requests/{service_request_id}"))
    page = wait_for(driver, "main")
    assert "Closed" in page.text
    assert NOTE in page.text
    assert "Marguerite" not in page.text and "555 0142" not in page.text
    check_page(driver, "walkthrough-closed")
    assert _public(site, service_request_id)["status"] == "closed"
