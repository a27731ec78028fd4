"""Regenerate the figures shown in the docs (run from the repository root).

python docs/scripts/make_figures.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

import audit_precomputed  # noqa: E402  (the example lives outside the package)


def main() -> None:
    """Run the precomputed-scores example and copy its forest plot into docs/img."""
    img = ROOT / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        audit_precomputed.main(["--out", tmp])
        shutil.copy(Path(tmp) / "forest.png", img / "forest.png")


if __name__ == "__main__":
    main()
