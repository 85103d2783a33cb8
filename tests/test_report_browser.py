"""The report in a real browser (headless Chromium via selenium): it renders, and its filters work.

Skipped, with the reason, where selenium, /usr/bin/chromium or /usr/bin/chromedriver is missing.
"""

from __future__ import annotations

import pytest

from conformance.report.render import render_report

try:
    from tests import report_fixtures as fixtures
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    import report_fixtures as fixtures

pytestmark = pytest.mark.skipif(bool(fixtures.chromium_missing()), reason=f"headless Chromium unavailable: {fixtures.chromium_missing()}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    results = fixtures.write_results(folder / "results.jsonl", fixtures.sample_records())
    page = folder / "conformance.html"
    summary = render_report([str(results)], str(page))
    with fixtures.headless_chromium() as driver:
        driver.get(page.as_uri())
        yield driver, summary


def _visible(driver, selector):
    from selenium.webdriver.common.by import By

    return [e for e in driver.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]


def _reset(driver):
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "reset-filters").click()


def test_verdict_matrix_and_finding_cards_render(browser):
    from selenium.webdriver.common.by import By

    driver, summary = browser
    verdict = driver.find_element(By.ID, "verdict")
    assert summary.verdict_text in verdict.text
    assert verdict.value_of_css_property("color") == "rgba(163, 21, 21, 1)"  # the failing red
    assert len(_visible(driver, "table.matrix tbody tr")) == 7
    failing = _visible(driver, "table.matrix td.cell[data-state=fail]")
    assert failing and all(cell.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)" for cell in failing)
    cards = _visible(driver, "article.finding")
    assert len(cards) == 8
    heatmaps = _visible(driver, "figure.heat svg")
    assert heatmaps and heatmaps[0].size["width"] > 40 and heatmaps[0].size["height"] > 20
    assert driver.find_element(By.ID, "shown").text == "showing 8 of 8 findings"


def test_filter_changes_the_visible_rows_and_cards(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, _ = browser
    _reset(driver)
    Select(driver.find_element(By.ID, "filter-implementation")).select_by_value("jax")
    cards = _visible(driver, "article.finding")
    assert cards and {card.get_attribute("data-implementation") for card in cards} == {"jax"}
    rows = _visible(driver, "table.matrix tbody tr")
    assert [row.get_attribute("data-implementation") for row in rows] == ["jax"]
    assert driver.find_element(By.ID, "shown").text == f"showing {len(cards)} of 8 findings"

    Select(driver.find_element(By.ID, "filter-status")).select_by_value("crash")
    assert not _visible(driver, "article.finding")
    assert _visible(driver, "#no-match")
    _reset(driver)
    assert len(_visible(driver, "article.finding")) == 8


def test_clicking_a_failing_matrix_cell_filters_to_its_findings(browser):
    from selenium.webdriver.common.by import By

    driver, _ = browser
    _reset(driver)
    link = driver.find_element(By.CSS_SELECTOR, "a[data-jump][data-implementation=tensorflow][data-op=conv3d]")
    link.click()
    cards = _visible(driver, "article.finding")
    assert [(c.get_attribute("data-implementation"), c.get_attribute("data-op")) for c in cards] == [("tensorflow", "conv3d")]
    assert cards[0].get_attribute("data-status") == "crash"
    _reset(driver)


def test_a_card_of_several_op_families_is_reached_from_each_of_their_cells(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, _ = browser
    for op in ("conv1d", "conv_transpose1d"):
        _reset(driver)
        link = driver.find_element(By.CSS_SELECTOR, f"a[data-jump][data-implementation=jax][data-op={op}]")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)  # clear of the sticky filters
        link.click()
        cards = _visible(driver, "article.finding")
        assert [(c.get_attribute("data-status"), c.get_attribute("data-op")) for c in cards] == [
            ("error", "conv1d conv_transpose1d")]
    _reset(driver)
    Select(driver.find_element(By.ID, "filter-op")).select_by_value("conv_transpose1d")
    assert {c.get_attribute("data-implementation") for c in _visible(driver, "article.finding")} == {"jax", "tensorflow"}
    _reset(driver)


def test_an_unsupported_cell_shows_its_reason(browser):
    from selenium.webdriver.common.by import By

    driver, _ = browser
    _reset(driver)
    cell = driver.find_element(By.CSS_SELECTOR, "tr[data-implementation=onnxruntime] td.cell[data-op=conv_transpose3d]")
    assert cell.get_attribute("data-state") == "unsupported"
    reason = cell.find_element(By.CSS_SELECTOR, ".why")
    assert reason.is_displayed() and reason.text.startswith("unsupported: onnxruntime: ConvTranspose")
    assert "CPU execution provider" in reason.get_attribute("title")


def test_sort_by_count_puts_the_most_frequent_finding_first(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, _ = browser
    _reset(driver)
    Select(driver.find_element(By.ID, "sort-findings")).select_by_value("count")
    counts = [int(c.get_attribute("data-count")) for c in _visible(driver, "article.finding")]
    assert counts == sorted(counts, reverse=True)
    Select(driver.find_element(By.ID, "sort-findings")).select_by_value("severity")
    ranks = [int(c.get_attribute("data-rank")) for c in _visible(driver, "article.finding")]
    assert ranks == sorted(ranks, reverse=True)


def test_copy_button_copies_or_selects_the_repro_command(browser):
    from selenium.webdriver.common.by import By

    driver, _ = browser
    button = driver.find_element(By.CSS_SELECTOR, "article.finding button.copy")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    # The label changes when the clipboard's promise settles: wait for it (a loaded CI machine is slow).
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda _: button.text != "Copy")
    assert button.text in ("Copied", "Selected: press Ctrl+C")
