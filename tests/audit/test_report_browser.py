"""report.html in a real headless Chromium at 1400 px, as a reader opens it.

A report like the demo's (schema strata, k-means clusters, exemplar images; built in
seconds from the synthetic chest X-rays, see ``synthetic_report.py``) is saved and
opened from disk. Checked: the findings section names the undrained pneumothoraces with
their AUC, nothing overflows sideways, every image loads. With ``HSTRAT_SCREENSHOT_DIR``
set, the screenshot is written there (``report-test.png``).

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package
(``.ci/install-browser`` installs them); skipped with a reason otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from headless_chromium import BROWSER_MARKS, chromium
from synthetic_report import synthetic_report

pytest.importorskip("selenium", reason="selenium is not installed (run .ci/install-browser)")
from selenium.webdriver.common.by import By

pytestmark = BROWSER_MARKS  # a real browser: run in CI (.ci/run installs Chromium)


@pytest.fixture
def browser(tmp_path):
    yield from chromium(tmp_path / "chromium-profile", "--window-size=1400,1000")


def test_report_reads_at_1400_px(browser, tmp_path):
    report, images = synthetic_report()
    paths = report.save(tmp_path / "report", images=images)
    browser.get(Path(paths["html"]).as_uri())

    findings = browser.find_element(By.ID, "findings")
    drain = report.table.set_index("stratum").loc["chest_drain=False"]
    first = findings.find_elements(By.TAG_NAME, "li")[0].text
    assert first.startswith(f"chest_drain=False ({int(drain['n_pos'])} positives): ")
    assert f"AUC {drain['auc']:.3f}" in first
    assert findings.location["y"] < 200  # the first thing on the page

    widths = browser.execute_script(
        "const f = document.getElementById('findings');"
        "return [f.scrollWidth, f.clientWidth,"
        " document.documentElement.scrollWidth, window.innerWidth];"
    )
    assert widths[0] <= widths[1], widths  # no horizontal scrollbar on the findings
    assert widths[2] <= widths[3], widths  # nor on the page (tables fit)

    loaded = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0]);"
    )
    assert len(loaded) == 4, loaded  # forest, cluster exemplars, cluster map, ROC
    assert all(ok for _, ok in loaded), loaded

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(height, 4000))
    shot = tmp_path / "report-test.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("HSTRAT_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["HSTRAT_SCREENSHOT_DIR"]) / shot.name)
