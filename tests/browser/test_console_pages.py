"""The pages every face shares, in the browser: the console's sign-in (by keyboard alone, a
refusal, the landing page of each role), the error pages (404, 403, an expired form) and a
right-to-left page — each screenshotted and checked for console errors and accessibility."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from open311.values import StaffRole
from tests.browser.conftest import PASSWORD
from tests.browser.helpers import check_page, wait_for


def _type_sign_in(driver: WebDriver, username: str, password: str) -> None:
    """Sign in with the keyboard only: the username field has the focus, Tab, Enter."""
    wait_for(driver, "#username")
    active = driver.switch_to.active_element
    assert active.get_attribute("id") == "username"
    active.send_keys(username + Keys.TAB)
    driver.switch_to.active_element.send_keys(password + Keys.ENTER)


def test_sign_in_by_keyboard_a_refusal_and_each_roles_landing_page(fresh_browser, site):
    driver = fresh_browser
    driver.get(site.url("/staff/sign-in"))
    check_page(driver, "console-sign-in")
    _type_sign_in(driver, site.users[StaffRole.supervisor], "not the password at all")
    problem = wait_for(driver, ".problems[role=alert]")
    assert "Wrong username or password" in problem.text
    check_page(driver, "console-sign-in-refused")

    for role in (StaffRole.editor, StaffRole.call_taker):
        driver.delete_all_cookies()
        driver.get(site.url("/staff"))
        _type_sign_in(driver, site.users[role], PASSWORD)
        wait_for(driver, "footer .sign-out")
        check_page(driver, f"console-home-{role.value}")
    # The call-taker's menu names the intake screen, and only it among the console's screens.
    menu = [link.text for link in driver.find_elements(By.CSS_SELECTOR, "header nav a")]
    assert "Take a call" in menu and "Work queues" not in menu

    # A screen of another role: the 403 page, in the signed-in frame.
    driver.get(site.url("/staff/queues"))
    refused = wait_for(driver, ".problems[role=alert]")
    assert "supervisor" in refused.text
    check_page(driver, "console-forbidden")

    driver.get(site.url("/staff"))
    wait_for(driver, "footer .sign-out button").click()
    wait_for(driver, "#username")
    driver.get(site.url("/staff"))
    assert "/staff/sign-in" in driver.current_url


def test_error_pages_and_an_expired_form(fresh_browser, site):
    driver = fresh_browser
    driver.get(site.url("/requests/NO-SUCH-REQUEST"))
    wait_for(driver, ".problems[role=alert]")
    check_page(driver, "error-not-found")
    driver.get(site.url("/staff/no-such-screen?locale=ar"))
    wait_for(driver, ".problems[role=alert]")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
    check_page(driver, "error-not-found-ar")

    # The form's token no longer matches the session (the cookie was lost): refused, said so.
    driver.get(site.url("/staff/sign-in"))
    wait_for(driver, "#username")
    driver.delete_all_cookies()
    _type_sign_in(driver, site.users[StaffRole.supervisor], PASSWORD)
    expired = wait_for(driver, ".problems[role=alert]")
    assert "This form has expired" in expired.text
    check_page(driver, "error-expired-form")
