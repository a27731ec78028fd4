"""Screenshot an HTML audit report in headless Chromium, plain and annotated, for the docs.

Usage: ``python docs/scripts/screenshot_report.py hstrat-demo/report.html docs/img``
(run ``hstrat demo`` first). Writes ``report.png`` (the top of the page, for the home
page) and, for "Reading a report", the page with numbered marks in two parts:
``report-annotated-1.png`` (marks 1-5) and ``report-annotated-2.png`` (marks 6-9); the
numbers are the ``CALLOUTS`` below. Needs Debian's chromium and
chromedriver, selenium and Pillow, as the report's browser test does
(``bash .ci/install-browser``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

#: What each number on the annotated screenshot points at (CSS selectors).
CALLOUTS = [
    "#findings > p",  # 1 overall result and operating point
    "#findings li",  # 2 a finding
    "#findings figure",  # 3 the cases of a cluster
    "#how-to-read",  # 4 how to read
    "#forest img",  # 5 forest plot and its legend
    "#clusters img",  # 6 cluster map
    "#roc img",  # 7 ROC panels
    "#details a.download",  # 8 the tables and the CSV
    "#provenance h2",  # 9 provenance
]
WIDTH = 1400


def main(argv: list[str] | None = None) -> None:
    """Render ``argv[0]`` (an HTML file) and write the screenshots into ``argv[1]``."""
    from PIL import Image, ImageDraw, ImageFont
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    page, out = (Path(a).resolve() for a in (argv or sys.argv[1:]))
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={WIDTH},1000",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryDirectory() as tmp:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(page.as_uri())
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(WIDTH, height)
            boxes = []
            for selector in CALLOUTS:
                found = driver.find_elements(By.CSS_SELECTOR, selector)
                boxes.append(found[0].rect if found else None)
            full = Path(tmp) / "full.png"
            driver.save_screenshot(str(full))
        finally:
            driver.quit()
        image = Image.open(full).convert("RGB")
    image.crop((0, 0, WIDTH, min(image.height, 1500))).save(out / "report.png", optimize=True)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=26)
    for number, box in enumerate(boxes, start=1):
        if box is None:
            continue
        left, top = box["x"], box["y"]
        right, bottom = left + box["width"], top + box["height"]
        draw.rectangle((left - 6, top - 4, right + 6, bottom + 4), outline="#d81b60", width=3)
        cx, cy = max(left - 34, 22), top + 18
        draw.ellipse((cx - 20, cy - 20, cx + 20, cy + 20), fill="#d81b60")
        draw.text((cx, cy), str(number), fill="white", font=font, anchor="mm")
    for part, numbers in enumerate([range(1, 6), range(6, 10)], start=1):
        shown = [boxes[n - 1] for n in numbers if boxes[n - 1] is not None]
        top = 0 if part == 1 else max(0, min(b["y"] for b in shown) - 40)
        bottom = min(image.height, max(b["y"] + b["height"] for b in shown) + 40)
        crop = image.crop((0, top, WIDTH, bottom))
        crop = crop.resize((1000, round(crop.height * 1000 / WIDTH)), Image.Resampling.LANCZOS)
        crop.save(out / f"report-annotated-{part}.png", optimize=True)


if __name__ == "__main__":
    main()
