"""``hstrat.show_versions()``: what to paste into a bug report."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

__all__ = ["show_versions"]

_PACKAGES = (
    "hstrat",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "statsmodels",
    "matplotlib",
    "tqdm",
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
    """Print the versions of Python, the platform, hstrat and its dependencies.

    Versions are read from package metadata, so nothing heavy (torch) is imported.

    Examples
    --------
    >>> import hstrat
    >>> hstrat.show_versions()  # doctest: +ELLIPSIS
    hstrat ...
    python      : ...
    """
    rows = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    rows.update({name: _version(name) for name in _PACKAGES if name != "hstrat"})
    print(f"hstrat {_version('hstrat')}")
    width = max(map(len, rows))
    for key, value in rows.items():
        print(f"{key:<{width}} : {value}")
