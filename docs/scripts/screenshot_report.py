"""Screenshot an HTML audit report in headless Chromium for the docs home page.

Usage: ``python docs/scripts/screenshot_report.py hstrat-demo/report.html docs/img/report.png``
(run ``hstrat demo`` first). Needs Debian's chromium and chromedriver and selenium, as
the labelling tool's browser test does (``bash .ci/install-browser``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """Render ``argv[0]`` (an HTML file) and save the top of the page to ``argv[1]``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    page, out = (Path(a).resolve() for a in (argv or sys.argv[1:]))
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1500",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(page.as_uri())
            driver.save_screenshot(str(out))
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
