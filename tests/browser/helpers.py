"""Driving Debian's Chromium: a page's checks (no console errors, axe-core's serious and critical
violations none) and its screenshot, kept where CI keeps them (var/screenshots/, or
OPEN311_SCREENSHOT_DIR)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("OPEN311_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("OPEN311_CHROMEDRIVER", "/usr/bin/chromedriver"))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("OPEN311_SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
DESKTOP = (1280, 900)
PHONE = (390, 844)  # a phone held upright, in CSS pixels
WAIT_S = 20


def start_chromium(size: tuple[int, int] = DESKTOP) -> WebDriver:
    """Headless Chromium through chromedriver, both Debian's: no download, no Selenium Manager."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--use-gl=angle",
        "--use-angle=swiftshader",  # WebGL for MapLibre, in software
        "--enable-unsafe-swiftshader",
        "--lang=en-US",
        f"--window-size={size[0]},{size[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    return driver


def wait_for(driver: WebDriver, css: str, timeout: float = WAIT_S):
    """The first element matching `css`, once it is visible."""
    return WebDriverWait(driver, timeout).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def console_errors(driver: WebDriver) -> list[str]:
    """The console's errors since the last call: a script error, a refused resource, a
    Content-Security-Policy violation. Reading them empties the browser's log."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def axe_violations(driver: WebDriver) -> list[dict]:
    """axe-core's serious and critical violations of the page as it is now. Injected by the
    driver (which a Content-Security-Policy does not stop), never served by the app."""
    driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(JSON.stringify(r.violations)))"
        ".catch(e => done(JSON.stringify("
        "[{id: 'axe-error', impact: 'critical', help: String(e)}])));"
    )
    return [v for v in json.loads(result) if v.get("impact") in ("serious", "critical")]


def check_page(driver: WebDriver, name: str) -> Path:
    """Screenshot the page as `name`.png, then assert it has no console error and no serious or
    critical accessibility violation. Returns the screenshot's path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(shot))
    # The page's own status (a 404 page, a refused sign-in's 401) is its answer, not an error in
    # it; Chromium logs it as one, naming the page's URL.
    own_status = f"{driver.current_url} - Failed to load resource: the server responded with"
    errors = [error for error in console_errors(driver) if not error.startswith(own_status)]
    assert not errors, f"{name}: console errors: {errors}"
    violations = axe_violations(driver)
    described = [
        f"{v['id']} ({v['impact']}): {v.get('help')} at "
        f"{[n.get('target') for n in v.get('nodes', [])][:3]}"
        for v in violations
    ]
    assert not violations, f"{name}: accessibility: {described}"
    return shot
