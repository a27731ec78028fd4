"""The leader split in two where its cases are two groups (``split_leader``)."""

from __future__ import annotations

import numpy as np
import pytest
from planted import top_cluster_recovery

from hstrat.detect import ClusterDetector, GaussianMixtureDetector

FAST = {"n_stability": 3, "random_state": 0}


def _merged(separation: float, seed: int = 0, *, stretch: float = 1.0, both_fail: bool = False):
    """Positives: a failing group A next to a benign group B, both far from the rest C.

    With two clusters per class k-means takes A and B together; A is the subclass.
    ``stretch`` widens A and B along the axis that separates them; ``both_fail`` makes B
    fail like A.
    """
    rng = np.random.default_rng(seed)
    n_a, n_b, n_c, n_neg = 160, 160, 480, 800
    centre_ab, centre_c = np.zeros(8), np.r_[12.0, np.zeros(7)]
    shift = np.r_[0.0, separation / 2, np.zeros(6)]
    pos = np.vstack([
        rng.normal(size=(n_a, 8)) + centre_ab + shift,
        rng.normal(size=(n_b, 8)) + centre_ab - shift,
        rng.normal(size=(n_c, 8)) + centre_c,
    ])  # fmt: skip
    pos[: n_a + n_b, 1] *= stretch
    neg = rng.normal(size=(n_neg, 8)) + np.r_[0.0, 0.0, 12.0, np.zeros(5)]
    embeddings = np.vstack([pos, neg])
    y = np.r_[np.ones(n_a + n_b + n_c, bool), np.zeros(n_neg, bool)]
    subclass = np.r_[np.ones(n_a, bool), np.zeros(n_b + n_c + n_neg, bool)]
    failing = subclass | (
        both_fail & np.r_[np.zeros(n_a), np.ones(n_b), np.zeros(n_c + n_neg)].astype(bool)
    )
    scores = rng.normal(size=len(y)) + 2.5 * y - 2.5 * failing
    return embeddings, y, scores, subclass


def _fit(separation: float, *, stretch: float = 1.0, both_fail: bool = False, **params):
    embeddings, y, scores, subclass = _merged(separation, stretch=stretch, both_fail=both_fail)
    det = ClusterDetector(n_clusters=(2,), **{**FAST, **params})
    return det.fit(embeddings, y_true=y, y_score=scores), embeddings, y, subclass


def test_a_leader_of_two_groups_is_split_and_the_failing_one_leads():
    det, embeddings, y, subclass = _fit(6.0)
    precision, recall = top_cluster_recovery(det.labels_, subclass)
    assert precision >= 0.95
    assert recall >= 0.95
    assert det.k_["positives"] == 3  # the two of k-means, one of them split
    chosen = det.k_selection_[det.k_selection_["chosen"]].set_index("class")
    assert "leader split in two" in chosen.loc["positives", "note"]
    assert "leader split in two" not in chosen.loc["negatives", "note"]
    assert det.clusters_["stability"].iloc[0] > 0.9  # refits split the same way (else ~0.5)
    # new cases are assigned as the fit assigned them, split included
    np.testing.assert_array_equal(det.predict(embeddings, y_true=y), det.labels_)


def test_without_the_split_the_two_groups_stay_merged():
    det, _, _, subclass = _fit(6.0, split_leader=None)
    precision, recall = top_cluster_recovery(det.labels_, subclass)
    assert precision == pytest.approx(0.5, abs=0.05)
    assert recall >= 0.95
    assert det.k_["positives"] == 2


def test_one_cloud_is_not_split():
    """A and B together are one cloud, elongated along the axis where A fails (2-means
    silhouette about 0.25): the failing half is more clearly worse than the cloud, but
    the cloud is not two groups, so it stays whole."""
    embeddings, y, scores, _ = _merged(0.0, stretch=2.5)
    side = y & (embeddings[:, 0] < 6) & (embeddings[:, 1] > 0)  # half of the A+B cloud
    scores = np.where(y, scores + 2.5 * (embeddings[:, 0] < 6) - 2.5 * side, scores)
    det = ClusterDetector(n_clusters=(2,), **FAST).fit(embeddings, y_true=y, y_score=scores)
    chosen = det.k_selection_[det.k_selection_["chosen"]]
    assert not chosen["note"].str.contains("split").any()
    assert det.k_["positives"] == 2
    # the gate is what keeps it whole: without it the failing half is split off
    loose = ClusterDetector(n_clusters=(2,), split_leader=-1.0, **FAST)
    assert loose.fit(embeddings, y_true=y, y_score=scores).k_["positives"] == 3


def test_two_groups_that_both_fail_stay_together():
    """Neither part is more clearly worse than the whole: the leader is kept whole."""
    det, _, _, _ = _fit(6.0, both_fail=True)
    assert det.k_["positives"] == 2


def test_the_split_needs_a_criterion_that_leads():
    det, *_ = _fit(6.0, criterion="paper")
    assert det.k_["positives"] == 2


def test_mixtures_split_too():
    embeddings, y, scores, subclass = _merged(6.0)
    det = GaussianMixtureDetector((2,), **FAST).fit(embeddings, y_true=y, y_score=scores)
    precision, recall = top_cluster_recovery(det.labels_, subclass)
    assert precision >= 0.95
    assert recall >= 0.9


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (1.5, ValueError),
        (-2, ValueError),
        (np.nan, ValueError),
        ("0.4", TypeError),
        (True, TypeError),
    ],
)
def test_split_leader_is_checked(value, error):
    embeddings, y, scores, _ = _merged(6.0)
    with pytest.raises(error, match=r"split_leader must be None or a silhouette in \[-1, 1\]"):
        ClusterDetector(split_leader=value).fit(embeddings, y_true=y, y_score=scores)
