"""The docs include example scripts with mkdocs snippet lines; they must stay intact
(a formatter once rewrote ``--8<--`` into ``--8 < --``, which mkdocs renders as text)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_snippet_lines_point_at_existing_files():
    pages = list((ROOT / "docs").rglob("*.md"))
    found = 0
    for page in pages:
        text = page.read_text()
        assert not re.search(r"--8\s+<", text), f"broken snippet line in {page}"
        for target in re.findall(r'^--8<-- "([^"]+)"$', text, flags=re.MULTILINE):
            assert (ROOT / target).is_file(), f"{page} includes missing {target}"
            found += 1
    assert found >= 3  # changelog, scores tutorial, model tutorial


def test_home_page_example_prints_what_the_page_shows(tmp_path):
    page = (ROOT / "docs" / "index.md").read_text()
    found = re.search(r"```python\n(.*?)```\n\n```text\n(.*?)```", page, flags=re.DOTALL)
    assert found, "docs/index.md lost its example and output"
    code, shown = found.groups()
    assert len(code.strip().splitlines()) <= 12
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == shown
    assert (tmp_path / "audit" / "report.html").is_file()
