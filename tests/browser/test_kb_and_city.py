"""/kb and /city in a browser: a resident searches the answers, opens one, reads them in
Arabic (right to left), and sees how the city is doing with the API's charts loaded."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from open311 import clock
from open311.db.session import make_engine, make_session_factory
from open311.domain import jurisdictions, request_stats
from tests.browser.helpers import SCREENSHOTS, check_page, wait_for


def first_page(driver, url: str) -> None:
    """Open the test's first page with a console that holds only its own entries:
    `fresh_browser` last showed a stylesheet, for which Chromium asks /favicon.ico (a 404)
    and may log it after the fixture emptied the log; the page is loaded again once drained."""
    driver.get(url)
    driver.get_log("browser")
    driver.refresh()


def test_a_resident_searches_the_answers_and_opens_one(fresh_browser, site):
    driver = fresh_browser
    first_page(driver, site.url("/kb"))
    wait_for(driver, "#kb-q")
    check_page(driver, "kb")
    box = driver.find_element(By.ID, "kb-q")
    box.send_keys("bulky items", Keys.ENTER)
    first = wait_for(driver, "ol.kb-results h3 a")
    check_page(driver, "kb_results")
    first.click()
    wait_for(driver, "article.kb-article h1")
    assert "/kb/" in driver.current_url
    assert driver.find_elements(By.CSS_SELECTOR, ".kb-services a[href^='/report/']")
    check_page(driver, "kb_article")
    driver.find_element(By.CSS_SELECTOR, ".kb-languages a[hreflang='es']").click()
    wait_for(driver, "article.kb-article[lang='es']")


def test_the_answers_in_arabic_read_right_to_left(fresh_browser, site):
    driver = fresh_browser
    first_page(driver, site.url("/kb?locale=ar&jurisdiction_id=austintexas.gov"))
    wait_for(driver, "#kb-q")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
    latest = driver.find_elements(By.CSS_SELECTOR, "ul.kb-latest li[lang='ar']")
    assert latest, "Austin's answers in Arabic"
    check_page(driver, "kb_arabic")
    latest[0].find_element(By.TAG_NAME, "a").click()
    wait_for(driver, "article.kb-article[dir='rtl'] h1")
    check_page(driver, "kb_article_arabic")
    driver.execute_script("document.querySelector('dl.kb-facts').scrollIntoView()")
    driver.save_screenshot(str(SCREENSHOTS / "kb_article_arabic_end.png"))


@pytest.fixture(scope="module")
def refreshed(site):
    """The request statistics brought up to date, as the worker does every interval."""
    engine = make_engine(site.database_url)
    with make_session_factory(engine)() as session:
        request_stats.refresh(session, jurisdictions.resolve(session, None), now=clock.now())
        session.commit()
    engine.dispose()


def test_how_the_city_is_doing_with_its_charts(fresh_browser, site, refreshed):
    driver = fresh_browser
    first_page(driver, site.url("/city"))
    wait_for(driver, "#services-table")
    images = driver.find_elements(By.CSS_SELECTOR, "figure.chart img")
    assert len(images) >= 4  # on-time share only where requests had an expected time
    driver.execute_script("arguments[0].scrollIntoView()", images[0])
    loaded = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all([...document.querySelectorAll('figure.chart img')].map("
        "  img => img.decode().then(() => img.naturalWidth, () => 0))).then(done);"
    )
    assert all(width > 0 for width in loaded), loaded
    driver.execute_script("window.scrollTo(0, 0)")
    check_page(driver, "city")
    driver.execute_script("arguments[0].scrollIntoView()", images[0])
    check_page(driver, "city_charts")
    driver.execute_script("document.getElementById('services-table').scrollIntoView()")
    driver.save_screenshot(str(SCREENSHOTS / "city_tables.png"))
    month = driver.find_element(By.ID, "city-month")
    options = month.find_elements(By.TAG_NAME, "option")
    options[-1].click()  # the oldest month with figures
    driver.find_element(By.CSS_SELECTOR, "form.city-period button").click()
    wait_for(driver, "#city-glance")
    assert "month=" in driver.current_url
    check_page(driver, "city_oldest_month")


def test_the_city_on_a_phone(phone, site, refreshed):
    phone.get(site.url("/city?month=2017-12&locale=en"))
    wait_for(phone, "#services-table")
    check_page(phone, "city_phone")
