"""Headless Chromium (Debian's chromium and chromium-driver) driven by Selenium, as the UI tests use it.

Nothing is fetched from the network: the browser starts with a fresh profile and background networking off, and
the driver is the system's (Selenium is not left to look for one).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--window-size=1400,1000")  # fmt: skip
WAIT_SECONDS = 20


def _binary(*names: str) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


@contextmanager
def chromium() -> Iterator[Any]:
    """A Selenium WebDriver of headless Chromium; skips the test when the browser or the driver is missing."""
    webdriver = pytest.importorskip("selenium.webdriver")
    browser, driver_path = _binary("chromium", "chromium-browser"), _binary("chromedriver")
    if browser is None or driver_path is None:
        pytest.skip("headless tests need chromium and chromium-driver (scripts/setup.sh dev installs them)")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: Any, css: str, text: str | None = None) -> Any:
    """The first element matching ``css`` (whose text contains ``text``, if given), once the page shows it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d: Any) -> Any:
        for element in d.find_elements(By.CSS_SELECTOR, css):
            if text is None or text in element.text:
                return element
        return False

    return WebDriverWait(driver, WAIT_SECONDS).until(found, f"no {css!r}" + (f" showing {text!r}" if text else ""))
