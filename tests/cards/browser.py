"""A real browser for the card tests: Debian's Chromium, headless, driven through Selenium and chromedriver
(both installed by ``scripts/setup.sh dev``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage")  # fmt: skip


def require_browser() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        message = f"{', '.join(missing)} missing: run ./scripts/setup.sh dev (it installs chromium, chromium-driver)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium with a profile of its own, closed at the end."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="card-browser-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1280,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: Any, condition: Callable[[Any], Any], seconds: float = 30, what: str = "") -> Any:
    """The first true value ``condition(driver)`` returns, polled until ``seconds`` have passed."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # a live page may replace an element between finding and reading it: that poll is not an answer
    wait = WebDriverWait(driver, seconds, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException])
    return wait.until(condition, message=what)
