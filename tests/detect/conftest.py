"""Shared fixtures of the detector tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for `planted`, shared with benchmarks/docs

from planted import Task, planted_task


@pytest.fixture(scope="session")
def planted() -> Task:
    return planted_task()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
