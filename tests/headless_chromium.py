"""Debian's Chromium, headless, driven by Selenium: the one setup both browser tests use.

Needs ``chromium``, ``chromium-driver`` and the ``selenium`` package (``.ci/install-browser``
installs them); a test module that uses :func:`chromium` is skipped with a reason otherwise.
The flags keep Chromium off this machine's closed network and out of shared memory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

#: Marks for a browser test module: slow (run in CI), skipped without Chromium.
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="Chromium and chromedriver are not installed (run .ci/install-browser)",
    ),
]


def chromium(profile: Path, *extra: str) -> Iterator[Any]:
    """Yield a headless Chromium driver (``extra``: more flags, e.g. the window size)."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (run .ci/install-browser)"
    )
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *extra,
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
