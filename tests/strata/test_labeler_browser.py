"""The labelling page in a real headless Chromium, driven by Selenium.

Labels a few cases by clicking and by keyboard, kills the server (SIGKILL) mid-way,
restarts it, checks that the page resumes at the first unfinished case and that the
labels CSV holds exactly what was answered. With ``HSTRAT_SCREENSHOT_DIR`` set, the
screenshots used in the docs are written there (``labeler-*.png``).

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package
(``.ci/install-browser`` installs them); skipped with a reason otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from headless_chromium import BROWSER_MARKS, chromium
from labeler_helpers import SCHEMA, ServerProcess, write_setup

from hstrat import Schema
from hstrat.strata import read_labels

pytest.importorskip("selenium", reason="selenium is not installed (run .ci/install-browser)")
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = BROWSER_MARKS  # a real browser: run in CI (.ci/run installs Chromium)

XSS_ID = "<img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture
def browser(tmp_path):
    yield from chromium(
        tmp_path / "chromium-profile", "--window-size=1200,760", "--hide-scrollbars"
    )


def settle(driver, index=None, timeout=15):
    """Wait until no request is in flight (and the page shows item ``index``)."""

    def ready(d):
        body = d.find_element(By.TAG_NAME, "body")
        if body.get_attribute("data-pending") != "0":
            return False
        if index is not None and body.get_attribute("data-index") != str(index):
            return False
        return d.execute_script(
            "const i = document.getElementById('image');"
            "return i.hidden || (i.complete && i.naturalWidth > 0);"
        )

    WebDriverWait(driver, timeout).until(ready)


def press(driver, *keys):
    ActionChains(driver).send_keys(*keys).perform()


def click(driver, variable, value):
    driver.find_element(
        By.CSS_SELECTOR, f'.question[data-variable="{variable}"] button[data-value="{value}"]'
    ).click()


def pressed(driver, variable):
    buttons = driver.find_elements(
        By.CSS_SELECTOR, f'.question[data-variable="{variable}"] button'
    )
    return [
        b.get_attribute("data-value") for b in buttons if b.get_attribute("aria-pressed") == "true"
    ]


def shoot(driver, name):
    directory = os.environ.get("HSTRAT_SCREENSHOT_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(directory) / f"labeler-{name}.png"))


def labels_by_id(path):
    frame = read_labels(path, annotator="dr_a")
    return {
        i: {k: (None if pd.isna(v) else v) for k, v in row.items()} for i, row in frame.iterrows()
    }


def test_label_by_click_and_key_survive_a_kill_and_resume(tmp_path, browser):
    setup = write_setup(tmp_path, n=6, extra_ids=[XSS_ID])
    ids = pd.read_csv(setup["items"], dtype=str)["id"].tolist()
    server = ServerProcess(setup)
    try:
        browser.get(server.url)
        settle(browser, 0)
        assert browser.find_element(By.ID, "progress").text == "Case 1 of 7 · 0 done · 0 skipped"
        assert browser.find_element(By.ID, "item-id").text == ids[0]
        current = browser.find_element(By.CSS_SELECTOR, ".question.current")
        assert current.get_attribute("data-variable") == "chest_drain"
        shoot(browser, "item")

        # case 0 (positive: two questions) by clicking
        click(browser, "chest_drain", "yes")
        settle(browser, 0)
        assert pressed(browser, "chest_drain") == ["yes"]
        assert "Saved: chest_drain = yes" in browser.find_element(By.ID, "status").text
        click(browser, "opacity", "mild")
        settle(browser, 1)  # finishing a case moves on

        # case 1 (negative: only opacity) and case 2 (positive) by keys, typed ahead
        assert [
            q.get_attribute("data-variable")
            for q in browser.find_elements(By.CSS_SELECTOR, ".question")
        ] == ["opacity"]
        press(browser, "1", "2", "3")
        settle(browser, 3)
        rows = labels_by_id(setup["out"])
        assert rows[ids[1]]["opacity"] == "none"
        assert (rows[ids[2]]["chest_drain"], rows[ids[2]]["opacity"]) == ("no", "severe")

        # back shows the saved answers; forward again; skip case 3
        press(browser, Keys.ARROW_LEFT)
        settle(browser, 2)
        assert pressed(browser, "chest_drain") == ["no"]
        assert pressed(browser, "opacity") == ["severe"]
        shoot(browser, "answered")
        press(browser, Keys.ARROW_RIGHT)
        settle(browser, 3)
        press(browser, "s")
        settle(browser, 4)

        # case 4: answer one of its two questions, then the server dies
        click(browser, "chest_drain", "yes")
        settle(browser, 4)
        before = setup["out"].read_bytes()
    finally:
        server.kill()

    rows = labels_by_id(setup["out"])
    assert list(rows) == ids[:5]
    assert rows[ids[0]]["chest_drain"] == "yes"
    assert rows[ids[0]]["opacity"] == "mild"
    assert rows[ids[3]]["skipped"] == "true"
    assert rows[ids[3]]["opacity"] is None
    assert rows[ids[4]]["chest_drain"] == "yes"
    assert rows[ids[4]]["opacity"] is None
    assert all(r["annotator"] == "dr_a" for r in rows.values())

    # with the server gone an answer is not saved, and the page says so
    press(browser, "2")
    settle(browser)
    assert "Not saved" in browser.find_element(By.ID, "status").text
    assert setup["out"].read_bytes() == before

    server = ServerProcess(setup)
    try:
        browser.get(server.url)
        settle(browser, 4)  # resumes at the first unfinished, unskipped case
        assert browser.find_element(By.ID, "progress").text == "Case 5 of 7 · 3 done · 1 skipped"
        assert pressed(browser, "chest_drain") == ["yes"]
        current = browser.find_element(By.CSS_SELECTOR, ".question.current")
        assert current.get_attribute("data-variable") == "opacity"
        press(browser, Keys.ARROW_UP)
        assert (
            browser.find_element(By.CSS_SELECTOR, ".question.current").get_attribute(
                "data-variable"
            )
            == "chest_drain"
        )
        press(browser, Keys.ARROW_DOWN)
        shoot(browser, "resumed")
        press(browser, "3")
        settle(browser, 5)
        press(browser, "1")
        settle(browser, 6)

        # an id full of markup is shown as text, never run
        assert browser.find_element(By.ID, "item-id").text == XSS_ID
        assert browser.find_elements(By.CSS_SELECTOR, "#panel img, #item-id *") == []
        assert browser.title != "pwned"
        press(browser, "2")
        settle(browser, 7)
        done = browser.find_element(By.ID, "done-text").text
        assert done == "6 labelled, 1 skipped, 0 left open, of 7."
        shoot(browser, "done")
        press(browser, Keys.BACKSPACE)
        settle(browser, 6)
    finally:
        server.kill()

    labels = read_labels(setup["out"], annotator="dr_a")
    assert labels.index.tolist() == ids
    expected = {
        ids[0]: ("yes", "mild"),
        ids[1]: (None, "none"),
        ids[2]: ("no", "severe"),
        ids[3]: (None, None),
        ids[4]: ("yes", "severe"),
        ids[5]: (None, "none"),
        ids[6]: (None, "mild"),
    }
    got = {
        i: tuple(None if pd.isna(v) else v for v in labels.loc[i, ["chest_drain", "opacity"]])
        for i in ids
    }
    assert got == expected
    assert labels["skipped"].tolist() == [
        "false",
        "false",
        "false",
        "true",
        "false",
        "false",
        "false",
    ]
    times = pd.to_datetime(labels["labelled_at"])
    assert times.notna().all()
    assert times.dt.tz is not None
    y_true = pd.read_csv(setup["items"], dtype=str).set_index("id")["y_true"].astype(int)
    Schema.from_dict(SCHEMA).validate(labels, y_true=y_true)  # no answer outside its population
