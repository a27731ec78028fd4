"""``hstrat.show_versions()``: what to paste into a bug report.

This project is distributed as ``hstrat-audit``; the package index's ``hstrat`` is a
different project with the same import name, so the first line says which one is
imported, from where, and warns when both are installed.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "hstrat-audit"
_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "statsmodels",
    "matplotlib",
    "tqdm",
    "numba",
    "torch",
    "torchvision",
    "PyYAML",
    "selenium",
)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def show_versions() -> None:
    """Print which hstrat is imported, and the versions of Python and the dependencies.

    Versions are read from package metadata, so nothing heavy (torch) is imported.

    Examples
    --------
    >>> import hstrat
    >>> hstrat.show_versions()  # doctest: +ELLIPSIS
    hstrat ... (hidden stratification audits, distribution hstrat-audit) from ...
    python      : ...
    """
    from . import __file__ as package_file
    from ._version import __version__

    print(
        f"hstrat {__version__} (hidden stratification audits, distribution {DISTRIBUTION}) "
        f"from {Path(package_file).parent}"
    )
    providers = metadata.packages_distributions().get("hstrat", [])
    others = sorted({p for p in providers if p.lower().replace("_", "-") != DISTRIBUTION})
    if others:
        print(
            f"warning: {', '.join(others)} also installs a package named hstrat (the package "
            f"index's hstrat is a different project); uninstall it: pip uninstall {others[0]}"
        )
    rows = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        DISTRIBUTION: _version(DISTRIBUTION),
    }
    rows.update({name: _version(name) for name in _PACKAGES})
    width = max(map(len, rows))
    for key, value in rows.items():
        print(f"{key:<{width}} : {value}")
