"""A report like the demo's, built in seconds: schema strata, k-means clusters, images.

The synthetic chest X-rays of ``make_synthetic_cxr`` with simulated scores instead of a
trained model: pneumothorax without a chest drain is scored much worse, and the
embeddings carry the drain, so the detector finds the undrained positives as a cluster.
"""

from __future__ import annotations

import warnings

import numpy as np

import hstrat
from hstrat.datasets import cxr14_schema, make_synthetic_cxr
from hstrat.detect import KMeansDetector
from hstrat.exceptions import SmallStratumWarning
from hstrat.strata import Schema


def synthetic_report(n: int = 800, seed: int = 0):
    """Return ``(report, images)``."""
    data = make_synthetic_cxr(n, image_size=32, random_state=seed)
    meta = data.metadata
    rng = np.random.default_rng(seed + 1)
    y = meta["label"].to_numpy() == 1
    drain = meta["chest_drain"].to_numpy(bool)
    scores = rng.normal(size=n) + y * (0.3 + 2.5 * drain)
    embeddings = np.c_[
        3 * drain + 0.5 * rng.normal(size=n),
        2 * y + 0.5 * rng.normal(size=n),
        rng.normal(size=(n, 6)),
    ]
    schema = Schema.from_dict(cxr14_schema())
    strata = schema.to_strata(
        meta[["chest_drain", "airspace_opacity"]], y_true=y.astype(int), outside="ignore"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallStratumWarning)
        report = hstrat.evaluate(
            y,
            scores,
            strata,
            embeddings=embeddings,
            detectors=[KMeansDetector(random_state=seed)],
            n_resamples=300,
            random_state=seed,
            progress=False,
        )
    return report, data.images
