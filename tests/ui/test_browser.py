"""What a user sees: the pages of ``flowstone ui`` (in a subprocess, over real runs) in headless Chromium.

With FLOWSTONE_UI_SCREENSHOTS=<folder>, each view is also saved there as a PNG (docs/ui.md shows them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.ui.browser import chromium, wait_for
from tests.ui.helpers import UiRuns, UiServer


@pytest.fixture(scope="module")
def browser() -> Any:
    with chromium() as driver:
        driver.set_window_size(1400, 1000)
        yield driver


def _screenshot(driver: Any, name: str) -> None:
    folder = os.environ.get("FLOWSTONE_UI_SCREENSHOTS")
    if folder:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(max(height + 40, 700), 2400))
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))
        driver.set_window_size(1400, 1000)


def _task_id(ui_server: UiServer, run_id: str, step: str) -> str:
    (task_id,) = [t["task_id"] for t in ui_server.get(f"/api/runs/UiFlow/{run_id}")[1]["tasks"] if t["step"] == step]
    return str(task_id)


def _css(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def test_flows_page_lists_runs_with_status_and_reused_badge(browser: Any, ui_server: UiServer, ui_runs: UiRuns) -> None:
    browser.get(ui_server.url + "/")
    cached = wait_for(browser, f"tr.run-row[data-run='{ui_runs.cached}']")
    assert "reused 10/10" in cached.text and "succeeded" in cached.text
    assert "failed" in wait_for(browser, f"tr.run-row[data-run='{ui_runs.failed}']").text
    assert "best" in wait_for(browser, f"tr.run-row[data-run='{ui_runs.bob}']").text
    assert "4 runs" in wait_for(browser, "section.flow[data-flow='UiFlow'] h2").text
    _screenshot(browser, "flows")


def test_run_list_filters_by_status_and_the_address_keeps_the_filter(browser: Any, ui_server: UiServer,
                                                                      ui_runs: UiRuns) -> None:  # fmt: skip
    from selenium.webdriver.support.ui import Select

    browser.get(f"{ui_server.url}/flows/UiFlow")
    wait_for(browser, f"tr.run-row[data-run='{ui_runs.fresh}']")
    Select(wait_for(browser, "select[name=status]")).select_by_value("failed")
    wait_for(browser, "table.runs tbody tr")
    browser.get(browser.current_url)  # a reload shows the same view
    row = wait_for(browser, f"tr.run-row[data-run='{ui_runs.failed}']")
    assert browser.current_url.endswith("/flows/UiFlow?status=failed")
    assert [r.get_attribute("data-run") for r in _css(browser, "tr.run-row")] == [ui_runs.failed]
    assert "alice" in row.text
    browser.get(f"{ui_server.url}/flows/UiFlow?user=bob")
    wait_for(browser, f"tr.run-row[data-run='{ui_runs.bob}']")
    assert len(_css(browser, "tr.run-row")) == 1
    _screenshot(browser, "runs")


def test_run_page_draws_the_graph_with_fanout_and_reused_steps(browser: Any, ui_server: UiServer,
                                                               ui_runs: UiRuns) -> None:  # fmt: skip
    browser.get(f"{ui_server.url}/runs/UiFlow/{ui_runs.cached}")
    wait_for(browser, "svg.dag g.step[data-step='end']")
    steps = {g.get_attribute("data-step"): g for g in _css(browser, "svg.dag g.step")}
    assert set(steps) == {"start", "work", "gather", "report", "left", "right", "meet", "end"}
    assert all("step-succeeded" in g.get_attribute("class") for g in steps.values())
    assert len(_css(browser, "svg.dag g.reused-mark")) == 8
    assert "\u00d7 3" in wait_for(browser, "svg.dag text.fanout").text
    assert len(_css(browser, "svg.dag g.edge")) == 8
    assert len(_css(browser, "svg.gantt g.bar")) == 10
    steps["work"].click()
    wait_for(browser, "section.step-tasks h2", "Tasks of work")
    assert browser.current_url.endswith("?step=work")
    assert len(_css(browser, "tr.task-row")) == 3 and all("reused" in r.text for r in _css(browser, "tr.task-row"))
    _screenshot(browser, "run")


def test_failed_run_colours_its_failed_step(browser: Any, ui_server: UiServer, ui_runs: UiRuns) -> None:
    browser.get(f"{ui_server.url}/runs/UiFlow/{ui_runs.failed}")
    report = wait_for(browser, "svg.dag g.step[data-step='report']")
    assert "step-failed" in report.get_attribute("class")
    assert "step-pending" in wait_for(browser, "svg.dag g.step[data-step='end']").get_attribute("class")


def test_task_page_shows_an_artifact_value_a_log_line_and_why(browser: Any, ui_server: UiServer,
                                                              ui_runs: UiRuns) -> None:  # fmt: skip
    browser.get(f"{ui_server.url}/runs/UiFlow/{ui_runs.fresh}?step=report")
    wait_for(browser, "tr.task-row a").click()
    wait_for(browser, "section.log-stdout .line", "total is 5")
    assert "ran (miss)" in wait_for(browser, "pre.why").text
    wait_for(browser, "tr.artifact-row[data-artifact='total'] a").click()
    assert wait_for(browser, "section.preview[data-artifact='total'] pre.value").text == "5"
    wait_for(browser, "tr.artifact-row[data-artifact='table'] a").click()
    frame = wait_for(browser, "section.preview[data-artifact='table'] table.frame")
    assert "square" in frame.text and "4" in frame.text
    browser.get(browser.current_url)  # the artifact shown is part of the address
    wait_for(browser, "section.preview[data-artifact='table'] table.frame")
    _screenshot(browser, "task")


def _show_card(driver: Any, label: str) -> None:
    """Choose the card ``label`` names, then look inside its frame (the page's own elements are out of reach)."""
    from selenium.webdriver.support.ui import Select

    Select(wait_for(driver, "section.cards select.card-choice")).select_by_visible_text(label)
    frame = wait_for(driver, "section.cards iframe.card-frame")
    assert frame.get_attribute("sandbox") == "allow-scripts allow-popups"
    driver.switch_to.frame(frame)


def test_task_page_shows_each_card_in_a_sandboxed_frame(browser: Any, ui_server: UiServer, ui_runs: UiRuns) -> None:
    task_id = _task_id(ui_server, ui_runs.fresh, "report")
    browser.get(f"{ui_server.url}/runs/UiFlow/{ui_runs.fresh}/report/{task_id}")
    _show_card(browser, "summary \u00b7 blank")
    assert "The total is 5." in wait_for(browser, "main.fs-card", "Squares report").text
    assert "square" in wait_for(browser, "main.fs-card table").text
    browser.switch_to.default_content()
    _show_card(browser, "default")
    wait_for(browser, "td.fs-artifact-name", "total")  # the default card lists the task's artifacts
    browser.switch_to.default_content()
    _screenshot(browser, "task_cards")
    browser.get(browser.current_url)  # the card shown is part of the address
    browser.switch_to.frame(wait_for(browser, "section.cards iframe.card-frame"))
    wait_for(browser, "td.fs-artifact-name", "total")
    browser.switch_to.default_content()
    browser.get(wait_for(browser, "a.card-alone").get_attribute("href"))  # the card alone, as a page of its own
    wait_for(browser, "td.fs-artifact-name", "total")
    browser.get(f"{ui_server.url}/runs/UiFlow/{ui_runs.fresh}/start/{_task_id(ui_server, ui_runs.fresh, 'start')}")
    wait_for(browser, "p.no-cards", "This task has no cards.")


def test_reused_task_shows_its_origin_s_cards(browser: Any, ui_server: UiServer, ui_runs: UiRuns) -> None:
    task_id = _task_id(ui_server, ui_runs.cached, "report")
    browser.get(f"{ui_server.url}/runs/UiFlow/{ui_runs.cached}/report/{task_id}")
    origin = f"UiFlow/{ui_runs.fresh}/report/{_task_id(ui_server, ui_runs.fresh, 'report')}"
    assert origin in wait_for(browser, "section.cards .card-bar", "the cards of").text
    _show_card(browser, "summary \u00b7 blank")
    wait_for(browser, "main.fs-card", "Squares report")
    browser.switch_to.default_content()


def test_reused_task_says_where_its_results_come_from(browser: Any, ui_server: UiServer, ui_runs: UiRuns) -> None:
    browser.get(f"{ui_server.url}/runs/UiFlow/{ui_runs.cached}?step=report")
    wait_for(browser, "tr.task-row a").click()
    assert f"cache hit, reused UiFlow/{ui_runs.fresh}/report/" in wait_for(browser, "pre.why", "cache hit").text
    assert "reused" in wait_for(browser, "h1 .badge.reused").text


def test_compare_highlights_differences(browser: Any, ui_server: UiServer, ui_runs: UiRuns) -> None:
    browser.get(f"{ui_server.url}/compare/UiFlow/{ui_runs.fresh}/{ui_runs.bob}")
    total = wait_for(browser, "tr[data-artifact='report.total']")
    assert "differs" in total.get_attribute("class") and "5" in total.text and "10" in total.text
    _screenshot(browser, "compare")
    assert not _css(browser, "tr[data-artifact='work.square']")  # equal values are left out ...
    wait_for(browser, "a.toggle-all").click()  # ... until asked for
    assert "same" in wait_for(browser, "tr[data-artifact='work.square']").get_attribute("class")
    scale = [r for r in _css(browser, "table.compare tr") if r.text.startswith("scale")]
    assert scale and "differs" in scale[0].get_attribute("class")


def test_a_tag_added_in_the_ui_is_kept(browser: Any, ui_server: UiServer, ui_runs: UiRuns) -> None:
    browser.get(f"{ui_server.url}/runs/UiFlow/{ui_runs.cached}")
    field = wait_for(browser, "form.add-tag input")
    field.send_keys("champion")
    wait_for(browser, "form.add-tag button").click()
    wait_for(browser, ".tags .tag", "champion")
    browser.get(f"{ui_server.url}/flows/UiFlow?tag=champion")
    wait_for(browser, f"tr.run-row[data-run='{ui_runs.cached}']")
    assert len(_css(browser, "tr.run-row")) == 1
    ui_server.post(f"/api/runs/UiFlow/{ui_runs.cached}/tags", {"remove": ["champion"]})
