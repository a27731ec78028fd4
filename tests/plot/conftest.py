"""Fixtures of the figure tests: the detectors' digits task, and no figure left open."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "detect"))  # `planted`, the detectors' tasks

from planted import Task, digits_task


@pytest.fixture(scope="session")
def digits() -> Task:
    return digits_task()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
