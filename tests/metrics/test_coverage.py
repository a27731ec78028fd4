"""Coverage of the 95% intervals in simulation (marked ``slow``; CI runs them).

Data are binormal: 60 positives with scores N(mu, 1) and 140 negatives with N(0, 1), so
the true AUC is Phi(mu / sqrt(2)). A nominal 95% interval must cover it between 93% and
97% of the time. With R replicates the Monte-Carlo standard error of a 95% coverage is
sqrt(0.95 * 0.05 / R): 0.0063 for R = 1200, so the +-2% band is about 3.2 standard
errors; DeLong is cheap and gets more replicates.

To keep this file at about a minute and a half on one core, each bootstrap interval uses
1000 resamples instead of the default 2000 (coverage depends little on it: the quantile
estimates get noisier, the interval not systematically wider or narrower).
All seeds are fixed, so the outcome is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from hstrat.metrics import bootstrap_ci, delong_ci

pytestmark = pytest.mark.slow

N_POS, N_NEG = 60, 140
MU = 1.0
TRUE_AUC = float(norm.cdf(MU / math.sqrt(2)))  # 0.760
LABELS = np.r_[np.ones(N_POS, dtype=bool), np.zeros(N_NEG, dtype=bool)]


def binormal_scores(rng):
    return rng.normal(size=N_POS + N_NEG) + MU * LABELS


def covers(result, truth=TRUE_AUC):
    return result.ci_low <= truth <= result.ci_high


def test_delong_interval_covers_95_percent():
    n_rep = 5000  # MC standard error 0.0031: +-2% is 6.5 standard errors
    rng = np.random.default_rng(20240601)
    hits = sum(covers(delong_ci(LABELS, binormal_scores(rng))) for _ in range(n_rep))
    assert 0.93 <= hits / n_rep <= 0.97, hits / n_rep


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_interval_covers_95_percent(method):
    n_rep = 1200  # MC standard error 0.0063; 1000 resamples per interval (see above)
    rng = np.random.default_rng(20240602)
    hits = 0
    for rep in range(n_rep):
        result = bootstrap_ci(
            LABELS, binormal_scores(rng), n_resamples=1000, method=method, random_state=rep
        )
        hits += covers(result)
    assert 0.93 <= hits / n_rep <= 0.97, hits / n_rep


def test_cluster_robust_delong_covers_when_images_share_a_patient():
    # 200 patients (60 diseased), 1-4 images each; every image of a patient has its
    # label and shares a patient effect b ~ N(0, 1): score = b + e + mu * y. All
    # positive-negative pairs come from different patients, so the AUC estimates
    # P(score_pos > score_neg) = Phi(mu / sqrt(2 * (1 + 1))). Treating images as
    # independent under-covers; the grouped variance must not.
    mu = 1.5
    truth = float(norm.cdf(mu / 2))
    n_rep = 5000
    rng = np.random.default_rng(20240603)
    patient_label = np.r_[np.ones(60, dtype=bool), np.zeros(140, dtype=bool)]
    naive = grouped = 0
    for _ in range(n_rep):
        patient = np.repeat(np.arange(200), rng.integers(1, 5, size=200))
        y = patient_label[patient]
        s = rng.normal(size=200)[patient] + rng.normal(size=len(patient)) + mu * y
        naive += covers(delong_ci(y, s), truth)
        grouped += covers(delong_ci(y, s, groups=patient), truth)
    assert naive / n_rep < 0.90, naive / n_rep
    assert 0.93 <= grouped / n_rep <= 0.97, grouped / n_rep
