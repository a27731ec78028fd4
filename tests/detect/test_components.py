"""The pure functions under the detectors, against brute force and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from hstrat.detect._detector import holdout_split
from hstrat.detect._discovery import (
    cluster_statistics,
    placements_against,
    rank_order,
    selection_value,
)
from hstrat.detect._stability import clustering_stability, jaccard_matches


def _auc(pos_scores, neg_scores):
    y = np.r_[np.ones(len(pos_scores)), np.zeros(len(neg_scores))]
    return roc_auc_score(y, np.r_[pos_scores, neg_scores])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_statistics_match_sklearn_auc_with_ties(seed):
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, 6, 80).astype(float)  # heavy ties
    neg = rng.integers(0, 5, 120).astype(float)
    labels = rng.integers(0, 3, 80)
    errors = rng.random(80) < 0.3
    st = cluster_statistics(placements_against(pos, neg, positive=True), errors, labels, 3)
    for c in range(3):
        assert st.auc[c] == pytest.approx(_auc(pos[labels == c], neg))
        rest = _auc(pos[labels != c], neg)
        assert st.auc_diff[c] == pytest.approx(_auc(pos[labels == c], neg) - rest)
        assert st.error_rate[c] == pytest.approx(errors[labels == c].mean())
        assert st.error_rate_diff[c] == pytest.approx(
            errors[labels == c].mean() - errors[labels != c].mean()
        )
    # clusters of negatives: all positives against the cluster's negatives
    neg_labels = rng.integers(0, 2, 120)
    st_neg = cluster_statistics(
        placements_against(neg, pos, positive=False), np.zeros(120, bool), neg_labels, 2
    )
    for c in range(2):
        assert st_neg.auc[c] == pytest.approx(_auc(pos, neg[neg_labels == c]))


def test_deficit_signs_make_worse_clusters_larger():
    placements = np.r_[np.full(10, 0.2), np.full(10, 0.9)] + np.linspace(0, 0.01, 20)
    errors = np.r_[np.ones(10, bool), np.zeros(10, bool)]
    st = cluster_statistics(placements, errors, np.r_[np.zeros(10, int), np.ones(10, int)], 2)
    for rank_by in ("auc", "error_rate"):
        assert st.deficit(rank_by)[0] > 0 > st.deficit(rank_by)[1]
        assert st.deficit_z(rank_by)[0] > 0 > st.deficit_z(rank_by)[1]


def test_cluster_statistics_single_cluster_has_no_gap():
    st = cluster_statistics(np.array([0.1, 0.5, 0.9]), np.zeros(3, bool), np.zeros(3, int), 1)
    assert np.isnan(st.auc_diff[0])
    assert np.isnan(st.auc_z[0])


def test_holdout_split_is_stratified_and_reproducible():
    classes = np.r_[np.zeros(101, int), np.ones(37, int), np.full(1, 2)]
    a = holdout_split(classes, 0.5, np.random.default_rng(3))
    b = holdout_split(classes, 0.5, np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert a[classes == 0].sum() == 50  # round(50.5) -> 50 (banker's rounding)
    assert a[classes == 1].sum() == 18
    assert a[classes == 2].sum() == 0  # a class of one case stays for discovery
    assert 0 < holdout_split(np.zeros(2, int), 0.99, np.random.default_rng(0)).sum() < 2


def test_jaccard_matches_brute_force():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 200)
    b = rng.integers(0, 3, 200) + 10
    got = jaccard_matches(a, b, 5)
    for c in range(4):
        best = max(((a == c) & (b == d)).sum() / ((a == c) | (b == d)).sum() for d in np.unique(b))
        assert got[c] == pytest.approx(best)
    assert np.isnan(got[4])  # cluster 4 is absent


def test_clustering_stability_of_noise_is_low_and_of_blobs_is_high():
    from sklearn.cluster import KMeans

    def refit(train, test, seed):
        return KMeans(3, n_init=1, random_state=seed).fit(train).predict(test)

    rng = np.random.default_rng(0)
    blobs = np.r_[
        rng.normal(0, 1, (60, 2)), rng.normal(10, 1, (60, 2)), rng.normal(-10, 1, (60, 2))
    ]
    noise = rng.normal(size=(180, 6))
    for data, expected_high in ((blobs, True), (noise, False)):
        labels = KMeans(3, n_init=3, random_state=0).fit_predict(data)
        st = clustering_stability(data, labels, 3, refit, 8, np.random.default_rng(1))
        assert len(st.ari) == 8
        if expected_high:
            assert st.mean_ari > 0.95
            assert (st.jaccard > 0.95).all()
        else:
            assert st.mean_ari < 0.9
    st0 = clustering_stability(blobs, labels, 3, refit, 0, np.random.default_rng(1))
    assert np.isnan(st0.mean_ari)
    assert np.isnan(st0.jaccard).all()
    assert adjusted_rand_score(labels, labels) == 1.0


def test_selection_value_is_the_largest_eligible_deficit_z():
    rng = np.random.default_rng(0)
    placements = rng.random(90)
    errors = rng.random(90) < 0.3
    labels = np.repeat([0, 1, 2], 30)
    st = cluster_statistics(placements, errors, labels, 3)
    eligible = np.array([True, False, True])
    value, why = selection_value(st, eligible, "auc")
    assert value == pytest.approx(np.nanmax(st.auc_z[eligible]))
    assert why == ""
    assert selection_value(st, eligible, "error_rate")[0] == pytest.approx(
        np.nanmax(st.error_rate_z[eligible])
    )
    gap = st.error_rate[eligible].max() - st.error_rate[eligible].min()
    assert selection_value(st, eligible, "paper")[0] == pytest.approx(gap)
    value, why = selection_value(st, np.array([True, False, False]), "paper")
    assert np.isnan(value)
    assert "fewer than two" in why


def test_rank_order_puts_eligible_leaders_first_then_deficits():
    deficits = [np.array([0.05, 0.30, np.nan]), np.array([0.10, 0.20, 0.50])]
    eligible = [np.array([True, True, True]), np.array([True, True, False])]
    # class 0's leader is its cluster 0 (largest z, smaller deficit), class 1's is 1
    order = rank_order(deficits, eligible, [0, 1])
    assert order == [(1, 1), (0, 0), (0, 1), (1, 0), (0, 2), (1, 2)]
    # without leaders: eligible clusters by deficit, NaN last, ineligible after
    assert rank_order(deficits, eligible, [-1, -1]) == [
        (0, 1), (1, 1), (1, 0), (0, 0), (0, 2), (1, 2),
    ]  # fmt: skip
