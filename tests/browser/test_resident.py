"""A resident files a request from the browser: picks a service, answers its questions (a
refused first try shows the problems by the fields), places the point on the map picker,
attaches a photo, sees the confirmation and follows it to the request's page (its photo and a
small map of its point), also in Arabic; and the form itself in Arabic."""

from __future__ import annotations

import io

from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.helpers import check_page, wait_for

CITY = "lacity.org"


def test_a_resident_files_a_request_with_a_photo_and_a_point(fresh_browser, site, tmp_path):
    driver = fresh_browser
    driver.get(site.url(f"/report?jurisdiction_id={CITY}"))
    wait_for(driver, ".service-list a")
    check_page(driver, "report-services")

    driver.find_element(By.LINK_TEXT, "Abandoned Vehicle").click()
    wait_for(driver, "#picker canvas")
    check_page(driver, "report-form")

    # Sent with nothing answered: the problems are listed and shown by their fields.
    driver.find_element(By.CSS_SELECTOR, "form.report button[type=submit]").click()
    summary = wait_for(driver, ".problems[role=alert]")
    assert "MAKE" in summary.text
    assert driver.find_elements(By.CSS_SELECTOR, ".field.invalid .error")
    check_page(driver, "report-form-errors")

    driver.find_element(By.NAME, "attribute[MAKE]").send_keys("Toyota")
    duration = Select(driver.find_element(By.NAME, "attribute[DURATION]"))
    duration.select_by_index(1)
    driver.find_element(By.ID, "description").send_keys("Flat tyres, parked for weeks")
    canvas = wait_for(driver, "#picker canvas")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    ActionChains(driver).move_to_element(canvas).click().perform()
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.ID, "lat").get_attribute("value") != ""
    )
    assert driver.find_element(By.ID, "picker-status").text.startswith("Point placed at")
    check_page(driver, "report-form-picker")
    photo = tmp_path / "car.jpg"
    image = io.BytesIO()
    Image.new("RGB", (320, 240), (180, 40, 40)).save(image, "JPEG")
    photo.write_bytes(image.getvalue())
    driver.find_element(By.ID, "media").send_keys(str(photo))
    driver.find_element(By.CSS_SELECTOR, "form.report button[type=submit]").click()

    notice = wait_for(driver, ".notice[role=status]")
    assert "Photos attached: 1" in notice.text
    check_page(driver, "report-filed")

    notice.find_element(By.PARTIAL_LINK_TEXT, "request's page").click()
    image_element = wait_for(driver, "img.photo")
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return arguments[0].naturalWidth", image_element) > 0
    )
    assert "Flat tyres" in driver.find_element(By.CSS_SELECTOR, ".request-description").text
    wait_for(driver, "#request-map canvas")
    check_page(driver, "request-page")

    driver.get(driver.current_url + "?locale=ar")
    wait_for(driver, "img.photo")
    wait_for(driver, "#request-map canvas")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
    check_page(driver, "request-page-ar")

    # The form mirrored in Arabic, the picker's map included.
    driver.get(site.url(f"/report/ABANDONED-VEHICLE?jurisdiction_id={CITY}&locale=ar"))
    wait_for(driver, "#picker canvas")
    check_page(driver, "report-form-ar")


def test_the_form_fits_a_phone(phone, site):
    phone.get(site.url(f"/report/BULKY?jurisdiction_id={CITY}"))
    wait_for(phone, "#picker canvas")
    width = phone.execute_script("return document.documentElement.scrollWidth")
    assert width <= phone.execute_script("return window.innerWidth")  # no sideways scrolling
    check_page(phone, "report-form-phone")
