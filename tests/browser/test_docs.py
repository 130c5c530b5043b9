"""GET /docs: Swagger UI, from the npm package, renders every operation of /openapi.json."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By

from tests.browser.helpers import check_page, wait_for


def test_api_docs_render_the_openapi_operations_from_this_host(fresh_browser, site):
    fresh_browser.get(site.url("/docs"))
    wait_for(fresh_browser, ".swagger-ui .opblock")
    operations = fresh_browser.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock")
    spec = requests.get(site.url("/openapi.json"), timeout=10).json()
    documented = sum(
        1 for item in spec["paths"].values() for method in item if method != "parameters"
    )
    assert len(operations) == documented
    # Every script and stylesheet came from this host (the CSP would refuse another anyway).
    sources = fresh_browser.execute_script(
        "return [...document.scripts].map(s => s.src)"
        ".concat([...document.querySelectorAll('link[rel=stylesheet]')].map(l => l.href))"
    )
    assert sources and all(src.startswith(site.root) for src in sources)
    check_page(fresh_browser, "docs")


def test_pages_carry_a_policy_without_inline_script(site):
    answer = requests.get(site.url("/docs"), timeout=10)
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in answer.text  # every script is a file (src=...)
