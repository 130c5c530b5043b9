"""The public map at /: MapLibre draws the requests' and districts' vector tiles with no console
error, a click on a request opens its page, and the filter form is a plain GET."""

from __future__ import annotations

import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.helpers import WAIT_S, check_page, wait_for

# Resolves once the map has drawn every tile it wants (at once when it already has).
WHEN_IDLE = """
const done = arguments[arguments.length - 1];
const map = document.getElementById("map").map;
if (!map) { done("no map"); return; }
if (map.loaded() && map.areTilesLoaded() && !map.isMoving()) { done("idle"); return; }
map.once("idle", () => done("idle"));
"""


def map_idle(driver) -> None:
    driver.set_script_timeout(WAIT_S)
    assert driver.execute_async_script(WHEN_IDLE) == "idle"


def rendered(driver, layers: list[str]) -> list[dict]:
    """The features of `layers` drawn now, with where they are on the page."""
    return driver.execute_script(
        """
        const map = document.getElementById("map").map;
        const box = map.getCanvas().getBoundingClientRect();
        return map.queryRenderedFeatures({layers: arguments[0]}).map(f => {
            const point = f.geometry.type === "Point";
            const at = point ? map.project(f.geometry.coordinates) : {x: -1, y: -1};
            const inside = point && at.x > 20 && at.y > 40 && at.x < box.width - 60
                && at.y < box.height - 40;
            return {properties: f.properties, x: at.x, y: at.y, inside: inside};
        });
        """,
        layers,
    )


def test_the_map_draws_requests_and_a_click_opens_one(fresh_browser, site):
    driver = fresh_browser
    driver.get(site.url("/"))
    wait_for(driver, "#map canvas")
    map_idle(driver)
    # The city at a glance: cells of several requests, over the districts.
    assert rendered(driver, ["request-cells", "request-points"])
    assert rendered(driver, ["district-fill"])
    check_page(driver, "map")

    newest = requests.get(
        site.url("/open311/v2/requests.json?jurisdiction_id=lacity.org&page_size=1"), timeout=10
    ).json()[0]
    driver.execute_script(
        "document.getElementById('map').map.jumpTo({center: [arguments[0], arguments[1]],"
        " zoom: 17})",
        newest["long"],
        newest["lat"],
    )
    map_idle(driver)
    points = [p for p in rendered(driver, ["request-points"]) if p["inside"]]
    assert points, "no request drawn where the newest request is"
    target = points[0]
    assert set(target["properties"]) <= {
        "service_request_id",
        "status",
        "service_code",
        "requested_datetime",
    }
    check_page(driver, "map-street")
    canvas = driver.find_element(By.CSS_SELECTOR, "#map canvas")
    size = canvas.size
    ActionChains(driver).move_to_element_with_offset(
        canvas, int(target["x"] - size["width"] / 2), int(target["y"] - size["height"] / 2)
    ).click().perform()
    WebDriverWait(driver, WAIT_S).until(lambda d: "/requests/" in d.current_url)
    assert driver.current_url.endswith(f"/requests/{target['properties']['service_request_id']}")


def test_the_filters_reload_the_page_with_the_matching_requests(fresh_browser, site):
    driver = fresh_browser
    driver.get(site.url("/"))
    wait_for(driver, "#map canvas")
    Select(driver.find_element(By.ID, "filter-status")).select_by_value("closed")
    driver.find_element(By.CSS_SELECTOR, "#map-filters button[type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: "status=closed" in d.current_url)
    wait_for(driver, "#map canvas")
    map_idle(driver)
    statuses = {
        cell.get_attribute("class")
        for cell in driver.find_elements(By.CSS_SELECTOR, ".newest td .status")
    }
    assert statuses == {"status closed"}
    # The tiles follow the same filter: every single request drawn is closed.
    drawn = rendered(driver, ["request-points"])
    assert all(p["properties"].get("status", "closed") == "closed" for p in drawn)
    check_page(driver, "map-closed")
    # The city selector, where there are several: another city's map and list.
    Select(driver.find_element(By.ID, "filter-city")).select_by_visible_text("City of New York")
    WebDriverWait(driver, WAIT_S).until(lambda d: "jurisdiction_id=" in d.current_url)
    wait_for(driver, "#map canvas")
    map_idle(driver)
    assert driver.find_elements(By.CSS_SELECTOR, ".newest tbody tr")
