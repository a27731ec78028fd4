"""The detectors' contract: fitted state, tables, strata, determinism, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hstrat
from hstrat import Stratum
from hstrat.detect import (
    CLUSTER_COLUMNS,
    EXEMPLAR_COLUMNS,
    GaussianMixtureDetector,
    KMeansDetector,
)

FAST = {"n_resamples": 100, "n_stability": 2, "random_state": 0}
DETECTORS = [KMeansDetector, GaussianMixtureDetector]


@pytest.fixture(params=DETECTORS, ids=lambda c: c.__name__)
def fitted(request, planted):
    det = request.param(**FAST)
    return det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)


REQUIRED = [
    "cluster", "class", "n", "n_pos", "n_neg", "auc", "auc_low", "auc_high", "auc_diff",
    "error_rate", "error_rate_diff", "p_value", "p_adjusted", "stability",
]  # fmt: skip


def test_fitted_state(fitted, planted):
    n = len(planted.y_true)
    t = fitted.clusters_
    assert list(t.columns) == CLUSTER_COLUMNS
    assert set(REQUIRED) <= set(t.columns)
    assert fitted.labels_.shape == (n,)
    assert fitted.labels_.dtype.kind == "i"
    # ids are ranks 0..K-1, every cluster has members, each cluster has one class
    assert t["cluster"].tolist() == list(range(len(t)))
    assert np.array_equal(np.unique(fitted.labels_), np.arange(len(t)))
    for row in t.itertuples():
        members = planted.y_true[fitted.labels_ == row.cluster]
        assert members.all() or not members.any()
        assert ("positives" if members.all() else "negatives") == row[3]
    assert fitted.n_clusters_ == len(t)
    assert sum(fitted.k_.values()) == len(t)
    assert fitted.n_features_in_ == planted.embeddings.shape[1]
    assert (fitted.discovery_mask_ ^ fitted.inference_mask_).all()  # a split, by default
    assert set(t["inference"]) == {"holdout"}
    assert 0.0 <= fitted.stability_ <= 1.0
    assert set(fitted.class_stability_) == {"negatives", "positives"}
    assert fitted.errors_.dtype == bool
    chosen = fitted.k_selection_[fitted.k_selection_["chosen"]]
    assert dict(zip(chosen["class"], chosen["k"], strict=True)) == fitted.k_


def test_table_is_worst_first_and_counts_add_up(fitted, planted):
    t = fitted.clusters_
    eligible = t[t["eligible"]]
    # worst first by the discovery deficit (AUC by default), eligible clusters first
    assert eligible["discovery_auc_diff"].is_monotonic_increasing
    assert t["eligible"].tolist() == sorted(t["eligible"].tolist(), reverse=True)
    assert t["n"].sum() == fitted.inference_mask_.sum()
    assert t["n_discovery"].sum() == fitted.discovery_mask_.sum()
    pos = t[t["class"] == "positives"]
    assert (pos["n_neg"] == (~planted.y_true).sum()).all()  # against all negatives
    assert (pos["n_pos"] == pos["n"]).all()
    assert ((t["auc_low"] <= t["auc"]) & (t["auc"] <= t["auc_high"])).all()
    tested = t["p_value"].notna()
    assert (t.loc[tested, "p_adjusted"] >= t.loc[tested, "p_value"]).all()
    assert t.loc[~t["eligible"], "p_value"].isna().all()


def test_rank_by_error_rate(planted):
    det = KMeansDetector(rank_by="error_rate", **FAST)
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    eligible = det.clusters_[det.clusters_["eligible"]]
    assert eligible["discovery_error_rate_diff"].is_monotonic_decreasing
    assert det.clusters_.loc[0, "error_rate"] > 0.5


def test_same_seed_same_result_and_different_seed_differs(planted):
    def fit(seed):
        det = KMeansDetector(n_resamples=100, n_stability=2, random_state=seed)
        return det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)

    a, b, c = fit(7), fit(7), fit(8)
    assert np.array_equal(a.labels_, b.labels_)
    pd.testing.assert_frame_equal(a.clusters_, b.clusters_)
    pd.testing.assert_frame_equal(a.k_selection_, b.k_selection_)
    assert not np.array_equal(a.discovery_mask_, c.discovery_mask_)


def test_float32_embeddings_are_kept_and_give_a_fit(planted):
    det = KMeansDetector(**FAST).fit(
        planted.embeddings.astype(np.float32), y_true=planted.y_true, y_score=planted.y_score
    )
    assert det.clusters_.loc[0, "name"].startswith("pos:")


def test_exploratory_mode_uses_every_case(planted):
    det = KMeansDetector(holdout=None, **FAST)
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    assert det.discovery_mask_.all()
    assert det.inference_mask_.all()
    assert set(det.clusters_["inference"]) == {"exploratory"}
    assert (det.clusters_["n"] == det.clusters_["n_discovery"]).all()


def test_to_strata_feed_evaluate(fitted, planted):
    strata = fitted.to_strata()
    eligible = fitted.clusters_[fitted.clusters_["eligible"]]
    assert [s.name for s in strata] == eligible["name"].tolist()
    assert len(fitted.to_strata(top=2)) == 2
    first = strata[0]
    assert isinstance(first, Stratum)
    assert first.population in ("positives", "negatives")
    assert first.variable == fitted._detector_name()
    assert first.level == 0
    assert np.array_equal(first.labelled, fitted.inference_mask_)
    assert not (first.mask & fitted.discovery_mask_).any()  # held-out members only
    table = hstrat.metrics.stratified_auc(
        planted.y_true, planted.y_score, strata, ci="delong", correction=None
    )
    # evaluate's complement is the rest of the class among held-out cases
    assert table.loc[1:, "auc"].to_numpy() == pytest.approx(eligible["auc"].to_numpy())
    assert table.loc[1:, "reference_auc"].to_numpy() == pytest.approx(
        eligible["reference_auc"].to_numpy()
    )


def test_evaluate_adds_detector_rows(planted):
    det = KMeansDetector(**FAST)
    report = hstrat.evaluate(
        planted.y_true,
        planted.y_score,
        {"planted": planted.subclass},
        embeddings=planted.embeddings,
        detectors=[det],
        n_resamples=200,
        random_state=0,
        progress=False,
    )
    rows = report.table[report.table["family"] == "kmeans"]
    eligible = det.clusters_[det.clusters_["eligible"]]
    assert rows["stratum"].tolist() == [f"kmeans:{n}" for n in eligible["name"]]
    assert (rows["variable"] == "kmeans").all()
    assert rows["auc"].to_numpy() == pytest.approx(eligible["auc"].to_numpy())
    # the operating point is evaluate's: the detector counted errors at it
    assert det.threshold_ == pytest.approx(report.threshold)
    top = rows.iloc[0]
    assert top["p_adjusted"] < 1e-6
    assert top["sensitivity"] == pytest.approx(1 - eligible.iloc[0]["error_rate"])
    assert report.clusters is not None
    assert report.clusters["detector"].eq("kmeans").all()
    assert len(report.clusters) == len(det.clusters_)


def test_unlabelled_fit_only_clusters(planted):
    det = KMeansDetector(n_clusters=(2, 3, 4, 7), **FAST).fit(planted.embeddings)
    t = det.clusters_
    assert set(t["class"]) == {"all"}
    assert t["auc"].isna().all()
    assert t["p_value"].isna().all()
    assert det.errors_ is None
    assert np.isnan(det.threshold_)
    assert (t["n_discovery"].diff().dropna() <= 0).all()  # largest first
    assert det.k_["all"] == 7  # the planted task has 7 well-separated modes
    assert {s.population for s in det.to_strata()} == {"all"}


def test_paper_mode_marks_the_pair_and_picks_the_widest_gap(planted):
    det = KMeansDetector(mode="paper", rank_by="error_rate", **FAST)
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    t = det.clusters_
    for cls in ("negatives", "positives"):
        roles = t.loc[t["class"] == cls, "role"]
        assert sorted(r for r in roles if r) == ["high-error", "low-error"]
        high = t[(t["class"] == cls) & (t["role"] == "high-error")].iloc[0]
        low = t[(t["class"] == cls) & (t["role"] == "low-error")].iloc[0]
        assert high["discovery_error_rate"] >= low["discovery_error_rate"]
        sel = det.k_selection_[det.k_selection_["class"] == cls]
        assert sel.loc[sel["chosen"], "criterion"].iloc[0] == sel["criterion"].max()
    assert t.loc[0, "role"] == "high-error"
    with pytest.raises(ValueError, match="needs y_true and y_score"):
        KMeansDetector(mode="paper").fit(planted.embeddings)


def test_min_cluster_size_marks_small_clusters_untested(planted):
    det = KMeansDetector(n_clusters=5, min_cluster_size=0.3, **FAST)
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    t = det.clusters_
    small = t["n_discovery"] < np.ceil(
        0.3 * t["class"].map({"negatives": (~planted.y_true & det.discovery_mask_).sum(),
                              "positives": (planted.y_true & det.discovery_mask_).sum()})
    )  # fmt: skip
    assert (t["eligible"] == ~small).all()
    assert t.loc[small, "p_value"].isna().all()
    assert t.loc[small, "note"].str.contains("min_cluster_size").all()
    assert len(det.to_strata()) == int((~small).sum())


def test_predict_assigns_new_cases_like_the_fit(fitted, planted):
    again = fitted.predict(planted.embeddings, y_true=planted.y_true)
    assert np.array_equal(again, fitted.labels_)
    with pytest.raises(ValueError, match="y_true is required"):
        fitted.predict(planted.embeddings)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(planted.embeddings[:, :3], y_true=planted.y_true)


def test_exemplars(fitted):
    ex = fitted.exemplars(k=3)
    assert list(ex.columns) == EXEMPLAR_COLUMNS
    top = ex[ex["cluster"] == 0]
    central = top[top["kind"] == "central"]
    assert len(central) == 3
    assert central["distance"].is_monotonic_increasing
    assert (fitted.labels_[central["position"]] == 0).all()
    errors = top[top["kind"] == "error"]
    assert errors["is_error"].all()
    assert len(errors) == 3
    # the nearest members really are the nearest
    members = np.flatnonzero(fitted.labels_ == 0)
    assert central["distance"].iloc[0] == pytest.approx(fitted.distances_[members].min())


def test_gaussian_mixture_criteria(planted):
    base = dict(n_components=(1, 2, 3, 4, 5), **FAST)
    bic = GaussianMixtureDetector(**base).fit(
        planted.embeddings, y_true=planted.y_true, y_score=planted.y_score
    )
    sil = GaussianMixtureDetector(criterion="silhouette", **base).fit(
        planted.embeddings, y_true=planted.y_true, y_score=planted.y_score
    )
    assert bic.k_ == {"negatives": 3, "positives": 4}  # the planted modes
    sel = sil.k_selection_
    assert sel.loc[sel["k"] == 1, "criterion"].isna().all()  # silhouette needs 2 clusters
    assert sil.k_["positives"] >= 2


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.__name__)
def test_bad_inputs_name_the_argument(cls, planted):
    det = cls(**FAST)
    E, y, s = planted.embeddings, planted.y_true, planted.y_score
    bad = E.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="embeddings contains NaN"):
        det.fit(bad, y_true=y, y_score=s)
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        det.fit(E[:, 0], y_true=y, y_score=s)
    with pytest.raises(
        ValueError, match=r"y_true must have one entry per row of embeddings \(2000\)"
    ):
        det.fit(E, y_true=y[:-1], y_score=s[:-1])
    with pytest.raises(ValueError, match="y_score is missing"):
        det.fit(E, y_true=y)
    with pytest.raises(ValueError, match="both classes"):
        det.fit(E, y_true=np.ones(len(y), bool), y_score=s)
    with pytest.raises(ValueError, match="y_score must be finite"):
        det.fit(E, y_true=y, y_score=np.where(np.arange(len(s)) == 5, np.inf, s))
    with pytest.raises(ValueError, match="threshold is used with y_true"):
        det.fit(E, threshold=0.5)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"holdout": 1.0}, ValueError, r"holdout must be None or a fraction in \(0, 1\); got 1.0"),
        ({"holdout": "half"}, TypeError, "holdout must be None or a fraction"),
        ({"rank_by": "auroc"}, ValueError, "Did you mean 'auc'"),
        ({"min_cluster_size": 0}, ValueError, "min_cluster_size must be an integer >= 1"),
        ({"min_cluster_size": 1.5}, ValueError, "min_cluster_size must be 'auto'"),
        ({"n_clusters": ()}, TypeError, "n_clusters must be an int or a non-empty sequence"),
        ({"n_clusters": (2, 0)}, ValueError, "n_clusters must be an integer >= 1"),
        ({"mode": "papr"}, ValueError, "Did you mean 'paper'"),
        ({"correction": "bonferroni"}, ValueError, "correction must be one of"),
        ({"n_stability": -1}, ValueError, "n_stability must be an integer >= 0"),
        ({"confidence_level": 95}, ValueError, "confidence_level must be in"),
        ({"pca_components": 0}, ValueError, "pca_components must be an integer >= 1"),
    ],
)
def test_bad_parameters_are_refused_at_fit(params, error, match, planted):
    det = KMeansDetector(**params)  # __init__ only stores
    with pytest.raises(error, match=match):
        det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)


def test_gaussian_mixture_parameters(planted):
    with pytest.raises(ValueError, match="Did you mean 'diag'"):
        GaussianMixtureDetector(covariance_type="diagonal").fit(planted.embeddings)
    with pytest.raises(ValueError, match="criterion must be one of"):
        GaussianMixtureDetector(criterion="aic").fit(planted.embeddings)


def test_tiny_class_is_one_untested_cluster():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(60, 4))
    y = np.r_[np.ones(3, bool), np.zeros(57, bool)]
    s = rng.normal(size=60) + y
    det = KMeansDetector(n_clusters=(4, 5), **FAST).fit(E, y_true=y, y_score=s)
    t = det.clusters_
    pos = t[t["class"] == "positives"]
    assert len(pos) == 1
    assert not pos["eligible"].iloc[0]
    assert "one cluster" in pos["note"].iloc[0]
    assert det.k_["positives"] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"max_fit_samples": 300},
        {"pca_components": None},
        {"pca_components": 5, "whiten": True},
        {"holdout": 0.3, "correction": "fdr_bh", "n_stability": 0},
    ],
)
def test_options_keep_the_contract(params, planted):
    det = KMeansDetector(**{**FAST, **params})
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    assert np.array_equal(det.predict(planted.embeddings, y_true=planted.y_true), det.labels_)
    top = det.labels_ == 0
    assert planted.subclass[top].mean() > 0.9
    if "holdout" in params:
        held = det.inference_mask_[planted.y_true].mean()
        assert held == pytest.approx(0.3, abs=0.01)
        assert np.isnan(det.stability_)
        assert det.clusters_["stability"].isna().all()
