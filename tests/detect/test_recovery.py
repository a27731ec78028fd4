"""Recovery of planted failing subclasses, as in GEORGE's subclass-recovery table.

For each task the truth is known; the top-ranked cluster (cluster 0) is compared with
the planted subclass by precision (share of the cluster that is the subclass) and
recall (share of the subclass inside the cluster), over all cases (discovery and
held-out). ``benchmarks/bench_discovery.py`` prints the same numbers over more seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
from planted import top_cluster_recovery

from hstrat.detect import GaussianMixtureDetector, KMeansDetector

SETTINGS = {"n_resamples": 300, "n_stability": 3, "random_state": 0}


@pytest.mark.parametrize(
    "detector",
    [KMeansDetector(**SETTINGS), KMeansDetector(mode="paper", rank_by="error_rate", **SETTINGS),
     GaussianMixtureDetector(**SETTINGS)],
    ids=["kmeans", "kmeans-paper", "gaussianmixture"],
)  # fmt: skip
def test_planted_subclass_is_the_top_cluster(detector, planted):
    """Synthetic: 2,000 cases, 32-d, a hidden fifth of the positives scored 2 SD lower.

    Every detector recovers it exactly (precision 1.00, recall 1.00 with seed 0).
    """
    detector.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    precision, recall = top_cluster_recovery(detector.labels_, planted.subclass)
    assert precision >= 0.95
    assert recall >= 0.95
    top = detector.clusters_.iloc[0]
    assert top["class"] == "positives"
    assert top["p_adjusted"] < 1e-6
    assert top["auc_diff"] < -0.3
    assert top["diff_high"] < 0  # the held-out interval excludes no difference
    assert top["stability"] > 0.9


def test_rare_digit_is_the_top_kmeans_cluster(digits):
    """Digits, even vs odd, 8 kept at 5% in training: the MLP misses 61% of test 8s.

    k-means on the hidden layer (holdout 0.5) puts 93% of the 8s in the top cluster,
    and 90% of that cluster are 8s (seed 0; seeds 1 and 2 give 0.78/0.97 and
    0.87/0.89). Its held-out AUC against all negatives is about 0.87 vs 1.00 for the
    other even digits.
    """
    det = KMeansDetector(**SETTINGS)
    det.fit(digits.embeddings, y_true=digits.y_true, y_score=digits.y_score)
    precision, recall = top_cluster_recovery(det.labels_, digits.subclass)
    assert precision >= 0.85
    assert recall >= 0.85
    top = det.clusters_.iloc[0]
    assert top["class"] == "positives"
    assert top["p_adjusted"] < 0.001
    assert top["error_rate"] > 0.4


def test_rare_digit_paper_mode(digits):
    """The paper's procedure finds the same cluster as its high-error cluster (0.90/0.93)."""
    det = KMeansDetector(mode="paper", **SETTINGS)
    det.fit(digits.embeddings, y_true=digits.y_true, y_score=digits.y_score)
    high = det.clusters_[(det.clusters_["class"] == "positives")]
    high = high[high["role"] == "high-error"].iloc[0]
    members = det.labels_ == high["cluster"]
    assert digits.subclass[members].mean() >= 0.85
    assert members[digits.subclass].mean() >= 0.85
    low = det.clusters_[
        (det.clusters_["class"] == "positives") & (det.clusters_["role"] == "low-error")
    ]
    low_members = det.labels_ == low["cluster"].iloc[0]
    # as the paper reports subclass prevalence in the high- vs low-error cluster
    assert digits.subclass[low_members].mean() < 0.05


def test_rare_digit_gaussian_mixture(digits):
    """BIC looks only at the embeddings: with ~225 discovery positives it keeps 3
    components for five even digits, so the 8s share the top component with another
    digit. The top component still holds 95% of the 8s (recall) but only 47% of its
    members are 8s (precision) with seed 0 — found, not isolated; review separates
    them. (k-means, whose k is chosen by the failure itself, isolates them.)
    """
    det = GaussianMixtureDetector(**SETTINGS)
    det.fit(digits.embeddings, y_true=digits.y_true, y_score=digits.y_score)
    precision, recall = top_cluster_recovery(det.labels_, digits.subclass)
    assert recall >= 0.9
    assert precision >= 0.4
    assert det.clusters_.iloc[0]["p_adjusted"] < 0.01


def test_rare_digit_images_and_exemplars(digits):
    det = KMeansDetector(**SETTINGS)
    det.fit(digits.embeddings, y_true=digits.y_true, y_score=digits.y_score)
    ex = det.exemplars(k=8)
    central = ex[(ex["cluster"] == 0) & (ex["kind"] == "central")]["position"].to_numpy()
    assert digits.subclass[central].mean() >= 0.75  # what a reviewer would see first
    assert np.asarray(digits.images).shape[1:] == (8, 8)
