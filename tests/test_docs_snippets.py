"""The docs include example scripts with mkdocs snippet lines; they must stay intact
(a formatter once rewrote ``--8<--`` into ``--8 < --``, which mkdocs renders as text)."""

import re
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
