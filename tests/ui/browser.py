"""The UI tests' browser is the card tests' headless Chromium (tests/cards/browser.py); this adds waiting for
what a page shows, by CSS selector and text."""

from __future__ import annotations

from typing import Any

from tests.cards.browser import chromium

__all__ = ["chromium", "wait_for"]

WAIT_SECONDS = 20


def wait_for(driver: Any, css: str, text: str | None = None) -> Any:
    """The first element matching ``css`` (whose text contains ``text``, if given), once the page shows it."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d: Any) -> Any:
        for element in d.find_elements(By.CSS_SELECTOR, css):
            if text is None or text in element.text:
                return element
        return False

    wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=[StaleElementReferenceException])  # live pages
    return wait.until(found, f"no {css!r}" + (f" showing {text!r}" if text else ""))
