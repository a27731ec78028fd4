import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

# What the tests share with the examples and is not part of the package (the fake data
# set trees, the paper's training recipe) lives in examples/; import it as the scripts
# do, from their folder: `from fake_datasets import write_fake_cxr14`.
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

# The detectors' planted tasks (tests/detect/planted.py), shared with the figure tests.
PLANTED = Path(__file__).resolve().parent / "detect"
if str(PLANTED) not in sys.path:
    sys.path.insert(0, str(PLANTED))


@pytest.fixture(scope="session")
def digits():
    """The digits task of the detector and figure tests (built once per session)."""
    from planted import digits_task

    return digits_task()
