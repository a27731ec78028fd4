"""The docs site builds with ``mkdocs build --strict`` and shows no raw Sphinx role.

hstrat's docstrings cross-reference with numpydoc roles (``:func:`hstrat.collect```);
``docs/scripts/griffe_roles.py`` turns them into links when the site is built. A role
left raw — a new spelling the extension misses, or the extension not loaded — fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Builds the whole docs site: run in CI.
pytestmark = pytest.mark.slow

pytest.importorskip("mkdocs", reason="the docs extra is not installed")
pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")

ROOT = Path(__file__).resolve().parents[1]
RAW_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const):")


def test_docs_build_strictly_with_links_not_roles(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    raw = {
        str(page.relative_to(site)): sorted(set(RAW_ROLE.findall(page.read_text())))
        for page in site.rglob("*.html")
    }
    assert {page: roles for page, roles in raw.items() if roles} == {}
    top = (site / "api" / "hstrat" / "index.html").read_text()
    assert 'class="autorefs autorefs-internal"' in top
    assert 'href="#hstrat.collect"' in top  # ":func:`hstrat.collect`" became a link
    detect = (site / "api" / "detect" / "index.html").read_text()
    assert re.search(r'id="hstrat\.detect\.\w+\.fit"', detect)  # inherited methods shown
    home = re.sub(r"<[^>]+>", "", (site / "index.html").read_text())
    assert "pip install hstrat-audit" in home
