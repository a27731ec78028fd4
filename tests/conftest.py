import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

# What the tests share with the examples and is not part of the package (the fake data
# set trees, the paper's training recipe) lives in examples/; import it as the scripts
# do, from their folder: `from fake_datasets import write_fake_cxr14`.
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))
