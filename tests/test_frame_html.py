"""``metric_frame.html``: self-contained, escaped, and working in a real headless browser.

The browser tests drive Debian's ``chromium`` + ``chromium-driver`` through Selenium
(``.ci/install_chromium.sh`` installs them); they are skipped where either is missing,
never downloaded.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Iterator, List

import pytest

from alchemy_resolvers.frame.html import HTML_FILE, color
from alchemy_resolvers.frame.table import MetricFrame

CHROMIUM = os.environ.get("ALCHEMY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ALCHEMY_CHROMEDRIVER", "/usr/bin/chromedriver")


def record(i: int, names: List, metrics: dict, status: str = "COMPLETED") -> dict:
    return {"key": ",".join(map(str, names)), "index": i, "names": list(names), "folder": f"f{i}",
            "status": status, "metrics": metrics, "error": None if status == "COMPLETED" else "boom",
            "job_dir": f"f{i}"}


def grid_frame(axes: dict, directions: dict, aggregate=()) -> MetricFrame:
    """A frame over the product of ``axes``; acc grows and loss falls with the index."""
    import itertools

    frame = MetricFrame(list(axes), directions, aggregate)
    for i, names in enumerate(itertools.product(*axes.values())):
        frame.add(record(i, list(names), {"acc": 0.5 + i / 100, "loss": 2.0 - i / 50}))
    return frame


def test_page_is_self_contained_and_escapes_every_string():
    frame = MetricFrame(["<b>axis</b>"], {"<script>x</script>": "max"})
    frame.add(record(0, ['"><img src=x>'], {"<script>x</script>": 1.0}))
    frame.add(record(1, ["&amp;"], {"<script>x</script>": 2.0}))
    page = frame.html(title="<title>")
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert '"><img' not in page and "<b>axis</b>" not in page
    assert page.count("<script>") == 1  # our own, inline
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page)  # nothing fetched
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_color_scale_runs_red_to_green():
    assert color(0.0) == "#f8696b" and color(0.5) == "#ffeb84" and color(1.0) == "#63be7b"


# ----------------------------------------------------------------------- in a browser


def start_browser() -> Iterator:
    """Headless Debian chromium through its own chromedriver (skips where missing)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("chromium and chromium-driver are not installed (.ci/install_chromium.sh)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a browser
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from start_browser()


def open_page(browser, frame: MetricFrame, tmp_path: Path):
    frame.write(tmp_path)
    browser.get((tmp_path / HTML_FILE).resolve().as_uri())
    return browser


def column(browser, table: str, name: str) -> List[str]:
    from selenium.webdriver.common.by import By

    heads = [th.text.strip(" \u25b2\u25bc") for th in browser.find_elements(By.CSS_SELECTOR, f"#{table} thead th")]
    c = heads.index(name)
    return [tr.find_elements(By.TAG_NAME, "td")[c].text for tr in browser.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")]


def test_two_axes_give_one_heatmap_per_directed_metric(browser, tmp_path):
    from selenium.webdriver.common.by import By

    frame = grid_frame({"lr": ["0·1", "0·2", "0·4"], "bs": [32, 64, 128, 256]}, {"acc": "max", "loss": "min"})
    open_page(browser, frame, tmp_path)
    panels = browser.find_elements(By.CSS_SELECTOR, ".panels")
    assert [p.get_attribute("data-metric") for p in panels] == ["acc", "loss"]
    for p in panels:
        assert len(p.find_elements(By.CSS_SELECTOR, "svg.heatmap")) == 1
        assert len(p.find_elements(By.CSS_SELECTOR, "rect.cell")) == 12
        assert p.find_element(By.CSS_SELECTOR, "rect.cell").is_displayed()
    # Green is better in both: the best acc (last run) and the best loss (also last) are green.
    for p in panels:
        assert p.find_elements(By.CSS_SELECTOR, "rect.cell")[-1].get_attribute("fill") == "#63be7b"
    assert browser.find_element(By.CSS_SELECTOR, "#frame td.best").text == "0.61"


def test_clicking_a_header_sorts_the_table(browser, tmp_path):
    from selenium.webdriver.common.by import By

    frame = grid_frame({"lr": ["0·1", "0·2", "0·4"], "bs": [32, 64, 128, 256]}, {"acc": "max"})
    open_page(browser, frame, tmp_path)
    loss = [float(v) for v in column(browser, "frame", "loss")]
    assert loss == sorted(loss, reverse=True)  # grid order
    header = next(th for th in browser.find_elements(By.CSS_SELECTOR, "#frame thead th") if th.text == "loss")
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert [float(v) for v in column(browser, "frame", "loss")] == sorted(loss)
    header.click()
    assert [float(v) for v in column(browser, "frame", "loss")] == sorted(loss, reverse=True)
    bs = next(th for th in browser.find_elements(By.CSS_SELECTOR, "#frame thead th") if th.text == "bs")
    bs.click()  # numbers sort as numbers: 32 < 64 < 128 < 256
    assert [int(v) for v in column(browser, "frame", "bs")] == sorted([32, 64, 128, 256] * 3)


def test_more_axes_give_small_multiples_and_aggregates_give_means(browser, tmp_path):
    from selenium.webdriver.common.by import By

    frame = grid_frame({"lr": [1, 2], "bs": [32, 64], "depth": [2, 4, 8], "seed": [0, 1]},
                       {"acc": "max"}, aggregate=["seed"])
    open_page(browser, frame, tmp_path)
    panel = browser.find_element(By.CSS_SELECTOR, ".panels")
    assert panel.get_attribute("data-metric") == "acc mean"
    maps = panel.find_elements(By.CSS_SELECTOR, "svg.heatmap")
    assert len(maps) == 3  # one per depth
    assert [len(m.find_elements(By.CSS_SELECTOR, "rect.cell")) for m in maps] == [4, 4, 4]
    assert len(column(browser, "aggregate", "acc mean")) == 12
    assert len(column(browser, "frame", "acc")) == 24


def test_missing_combinations_are_empty_cells(browser, tmp_path):
    from selenium.webdriver.common.by import By

    frame = MetricFrame(["a", "b"], {"acc": "max"})
    frame.add(record(0, [1, "x"], {"acc": 1.0}))
    frame.add(record(1, [1, "y"], {"acc": 2.0}))
    frame.add(record(2, [2, "x"], {"acc": 3.0}))  # (2, y) dropped by a constraint
    frame.add(record(3, [3, "x"], {}, status="FAILED"))
    open_page(browser, frame, tmp_path)
    assert len(browser.find_elements(By.CSS_SELECTOR, "rect.cell")) == 6
    assert len(browser.find_elements(By.CSS_SELECTOR, "rect.missing")) == 3
    png = browser.get_screenshot_as_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
