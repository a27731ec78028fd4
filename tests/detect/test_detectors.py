"""The detectors' contract: fitted state, tables, strata, determinism, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

import hstrat
from hstrat import Stratum
from hstrat.detect import (
    CLUSTER_COLUMNS,
    EXEMPLAR_COLUMNS,
    ClusterDetector,
    GaussianMixtureDetector,
    KMeansDetector,
)

FAST = {"n_stability": 2, "random_state": 0}
DETECTORS = [
    KMeansDetector(**FAST),
    GaussianMixtureDetector(**FAST),
    ClusterDetector(BayesianGaussianMixture(max_iter=200), pca_components=10, **FAST),
]


@pytest.fixture(scope="module", params=DETECTORS, ids=lambda d: type(d).__name__)
def fitted(request, planted):
    det = request.param
    return det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)


def test_fitted_state(fitted, planted):
    n = len(planted.y_true)
    t = fitted.clusters_
    assert list(t.columns) == CLUSTER_COLUMNS
    assert fitted.labels_.shape == (n,)
    assert fitted.labels_.dtype.kind == "i"
    # ids are ranks 0..K-1, every cluster has members, each cluster has one class
    assert t["cluster"].tolist() == list(range(len(t)))
    assert np.array_equal(np.unique(fitted.labels_), np.arange(len(t)))
    for row in t.itertuples():
        members = planted.y_true[fitted.labels_ == row.cluster]
        assert members.all() or not members.any()
        assert ("positives" if members.all() else "negatives") == row[3]
        assert row.prevalence == pytest.approx(len(members) / np.sum(planted.y_true == members[0]))
    assert fitted.n_clusters_ == len(t)
    assert sum(fitted.k_.values()) == len(t)
    assert fitted.n_features_in_ == planted.embeddings.shape[1]
    assert (fitted.discovery_mask_ ^ fitted.inference_mask_).all()  # a split, by default
    assert set(t["inference"]) == {"holdout"}
    assert 0.0 <= fitted.stability_ <= 1.0
    assert set(fitted.class_stability_) == {"negatives", "positives"}
    assert fitted.errors_.dtype == bool
    chosen = fitted.k_selection_[fitted.k_selection_["chosen"]]
    assert dict(zip(chosen["class"], chosen["k"], strict=True)).keys() == fitted.k_.keys()
    assert t["n"].sum() == fitted.inference_mask_.sum()
    assert t["n_discovery"].sum() == fitted.discovery_mask_.sum()


@pytest.mark.parametrize("criterion", ["error_rate", "auc"])
def test_ranking_leaders_first_then_by_deficit(criterion, planted):
    # whichever metric chose k and the leaders (discovery_z), they are ranked by AUC deficit
    det = KMeansDetector(criterion=criterion, **FAST).fit(
        planted.embeddings, y_true=planted.y_true, y_score=planted.y_score
    )
    t = det.clusters_
    assert t["eligible"].tolist() == sorted(t["eligible"].tolist(), reverse=True)
    eligible = t[t["eligible"]]
    leaders = eligible.groupby("class")["discovery_z"].idxmax().sort_values().to_numpy()
    # each class's most clearly worse cluster comes before every other cluster ...
    assert leaders.tolist() == list(range(len(leaders)))
    lead = eligible.loc[leaders]
    assert (-lead["discovery_auc_diff"]).is_monotonic_decreasing  # ... ordered by deficit
    rest = eligible.drop(index=leaders)
    assert (-rest["discovery_auc_diff"]).is_monotonic_decreasing
    # and the k kept per class is the one whose leader had the largest z
    for cls, group in det.k_selection_.groupby("class"):
        assert group.loc[group["chosen"], "criterion"].iloc[0] == group["criterion"].max()
        assert t.loc[t["class"] == cls, "discovery_z"].max() == pytest.approx(
            group["criterion"].max()
        )


def test_discovery_statistics_are_those_of_the_discovery_half(fitted, planted):
    from sklearn.metrics import roc_auc_score

    t = fitted.clusters_
    disc = fitted.discovery_mask_
    top = t.iloc[0]
    members = (fitted.labels_ == top["cluster"]) & disc
    other = disc & (planted.y_true != (top["class"] == "positives"))
    y = planted.y_true[members | other]
    assert top["discovery_auc"] == pytest.approx(
        roc_auc_score(y, planted.y_score[members | other])
    )
    assert top["discovery_error_rate"] == pytest.approx(fitted.errors_[members].mean())


@pytest.mark.parametrize("criterion", ["error_rate", "paper", "silhouette"])
def test_other_criteria_keep_the_contract(criterion, planted):
    det = KMeansDetector(criterion=criterion, **FAST)
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    assert planted.subclass[det.labels_ == 0].mean() > 0.9
    sel = det.k_selection_
    for _, group in sel.groupby("class"):
        assert group.loc[group["chosen"], "criterion"].iloc[0] == group["criterion"].max()
    if criterion == "paper":  # k with the widest gap between error rates
        pos = det.clusters_[det.clusters_["class"] == "positives"]
        gap = pos["discovery_error_rate"].max() - pos["discovery_error_rate"].min()
        chosen = sel[(sel["class"] == "positives") & sel["chosen"]]
        assert chosen["criterion"].iloc[0] == pytest.approx(gap)


@pytest.mark.parametrize("criterion", ["auc", "error_rate", "paper"])
def test_choice_does_not_see_held_out_outcomes(criterion, planted):
    # Reversing every held-out score turns the held-out cases into the model's worst:
    # the clusters, their order, the discovery statistics and the operating point at
    # which errors are counted must not move (Youden's threshold on the discovery cases).
    def fit(scores):
        det = KMeansDetector(criterion=criterion, **FAST)
        return det.fit(planted.embeddings, y_true=planted.y_true, y_score=scores)

    a = fit(planted.y_score)
    scores = planted.y_score.copy()
    held = a.inference_mask_
    scores[held] = -scores[held]
    b = fit(scores)
    assert np.array_equal(a.inference_mask_, b.inference_mask_)
    assert a.threshold_ == b.threshold_
    assert np.array_equal(a.labels_, b.labels_)
    pd.testing.assert_frame_equal(a.clusters_, b.clusters_)
    pd.testing.assert_frame_equal(a.k_selection_, b.k_selection_)
    disc = a.discovery_mask_
    assert np.array_equal(a.errors_[disc], b.errors_[disc])
    assert a.threshold_ == pytest.approx(
        hstrat.metrics.operating_threshold(planted.y_true[disc], planted.y_score[disc])
    )


@pytest.mark.parametrize("rule", ["youden", {"sensitivity": 0.9}])
def test_evaluate_hands_detectors_its_rule_not_its_value(rule, planted):
    # evaluate reads every stratum at the rule's threshold on every case; a detector must
    # get the rule and apply it to its discovery cases, or the held-out outcomes would
    # move the errors that choose its clusters (criterion "error_rate").
    def run(scores):
        det = KMeansDetector(criterion="error_rate", **FAST)
        report = hstrat.evaluate(
            planted.y_true, scores, embeddings=planted.embeddings, detectors=[det],
            threshold=rule, ci="delong", progress=False,
        )  # fmt: skip
        return det, report

    a, report_a = run(planted.y_score)
    scores = planted.y_score.copy()
    scores[a.inference_mask_] = -scores[a.inference_mask_]
    b, report_b = run(scores)
    assert report_a.threshold != report_b.threshold  # the report's operating point moved
    assert a.threshold_ == b.threshold_  # the detector's did not
    disc = a.discovery_mask_
    kwargs = {} if rule == "youden" else {"method": "sensitivity", "target": 0.9}
    assert a.threshold_ == pytest.approx(
        hstrat.metrics.operating_threshold(planted.y_true[disc], planted.y_score[disc], **kwargs)
    )
    pd.testing.assert_frame_equal(a.clusters_, b.clusters_)
    # a number is a fixed operating point: it is passed on as it is
    det = KMeansDetector(criterion="error_rate", **FAST)
    hstrat.evaluate(
        planted.y_true, planted.y_score, embeddings=planted.embeddings, detectors=[det],
        threshold=0.25, ci="delong", progress=False,
    )  # fmt: skip
    assert det.threshold_ == 0.25


def test_bic_sizes_the_mixture_by_the_embeddings(planted):
    det = GaussianMixtureDetector((1, 2, 3, 4, 5), criterion="bic", **FAST)
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    assert det.k_ == {"negatives": 3, "positives": 4}  # the planted modes
    with pytest.raises(TypeError, match="criterion='bic' needs a mixture"):
        KMeansDetector(criterion="bic").fit(planted.embeddings)


@pytest.mark.parametrize("clusterer", [MiniBatchKMeans(n_init=3), GaussianMixture("diag")])
def test_any_clusterer_with_predict(clusterer, planted):
    det = ClusterDetector(clusterer, **FAST)
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    assert planted.subclass[det.labels_ == 0].mean() > 0.9
    assert det.to_strata()[0].variable == type(clusterer).__name__.lower()
    assert det.clusterer is clusterer  # cloned, never fitted in place
    assert not hasattr(clusterer, "labels_")
    assert not hasattr(clusterer, "means_")


def test_same_seed_same_result_and_different_seed_differs(planted):
    def fit(seed):
        det = KMeansDetector(n_stability=2, random_state=seed)
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


def test_to_strata_are_the_held_out_members(fitted):
    strata = fitted.to_strata()
    eligible = fitted.clusters_[fitted.clusters_["eligible"]]
    assert [s.name for s in strata] == eligible["name"].tolist()
    assert len(fitted.to_strata(top=2)) == 2
    first = strata[0]
    assert isinstance(first, Stratum)
    assert first.population == eligible["class"].iloc[0]
    assert first.variable == fitted._detector_name()
    assert first.level == 0
    assert np.array_equal(first.labelled, fitted.inference_mask_)
    assert not (first.mask & fitted.discovery_mask_).any()
    assert np.array_equal(first.mask, (fitted.labels_ == 0) & fitted.inference_mask_)
    assert int(first.mask.sum()) == eligible["n"].iloc[0]


def test_evaluate_measures_the_clusters_as_strata(planted):
    """The contract with evaluate: report.clusters takes its measurements from the rows."""
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
    assert rows["level"].tolist() == eligible["cluster"].tolist()
    assert rows["population"].tolist() == eligible["class"].tolist()
    disc = det.discovery_mask_  # evaluate's rule (Youden's), on the discovery cases only
    assert det.threshold_ == pytest.approx(
        hstrat.metrics.operating_threshold(planted.y_true[disc], planted.y_score[disc])
    )
    clusters = report.clusters
    assert clusters["detector"].eq("kmeans").all()
    assert len(clusters) == len(det.clusters_)
    measured = clusters.set_index("stratum").loc[rows["stratum"]]
    for column in ("auc", "auc_low", "auc_high", "auc_diff", "p_value", "p_adjusted"):
        assert measured[column].to_numpy() == pytest.approx(rows[column].to_numpy())
    top = measured.iloc[0]
    # no permutation of the 200 is as extreme: the smallest p-value there is
    assert top["p_value"] == pytest.approx(1 / 201)
    assert top["error_rate"] == pytest.approx(1 - rows["sensitivity"].iloc[0])
    assert top["error_rate_high"] == pytest.approx(1 - rows["sensitivity_low"].iloc[0])
    held = (det.labels_ == 0) & det.inference_mask_  # read at the report's operating point
    missed = np.where(
        planted.y_true, planted.y_score < report.threshold, planted.y_score >= report.threshold
    )
    assert top["error_rate"] == pytest.approx(missed[held].mean())
    assert clusters.loc[~clusters["eligible"], "auc"].isna().all()


def test_unlabelled_fit_only_clusters(planted):
    det = KMeansDetector(n_clusters=(2, 3, 4, 7), **FAST).fit(planted.embeddings)
    t = det.clusters_
    assert set(t["class"]) == {"all"}
    assert t["discovery_auc"].isna().all()
    assert det.errors_ is None
    assert np.isnan(det.threshold_)
    assert (t["n_discovery"].diff().dropna() <= 0).all()  # largest first
    assert det.k_["all"] == 7  # the planted task has 7 well-separated modes
    assert {s.population for s in det.to_strata()} == {"all"}


def test_min_cluster_size_marks_small_clusters_as_no_candidates(planted):
    det = KMeansDetector(n_clusters=5, min_cluster_size=0.3, **FAST)
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    t = det.clusters_
    disc = det.discovery_mask_
    in_class = t["class"].map(
        {"negatives": (~planted.y_true & disc).sum(), "positives": (planted.y_true & disc).sum()}
    )
    small = t["n_discovery"] < np.ceil(0.3 * in_class)
    assert (t["eligible"] == ~small).all()
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
    members = np.flatnonzero(fitted.labels_ == 0)
    assert central["distance"].iloc[0] == pytest.approx(fitted.distances_[members].min())


def test_bad_inputs_name_the_argument(planted):
    det = KMeansDetector(**FAST)
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
        ({"criterion": "aucc"}, ValueError, "Did you mean 'auc'"),
        ({"min_cluster_size": 0}, ValueError, "min_cluster_size must be an integer >= 1"),
        ({"min_cluster_size": 1.5}, ValueError, "min_cluster_size must be 'auto'"),
        ({"n_clusters": ()}, TypeError, "n_clusters must be an int or a non-empty sequence"),
        ({"n_clusters": (2, 0)}, ValueError, "n_clusters must be an integer >= 1"),
        ({"n_stability": -1}, ValueError, "n_stability must be an integer >= 0"),
        ({"pca_components": 0}, ValueError, "pca_components must be an integer >= 1"),
        ({"clusterer": object()}, TypeError, "clusterer must be a scikit-learn clusterer"),
        ({"clusterer": KMeans(), "name": 3}, TypeError, "name must be None or a str"),
    ],
)
def test_bad_parameters_are_refused_at_fit(params, error, match, planted):
    det = ClusterDetector(**params)  # __init__ only stores
    with pytest.raises(error, match=match):
        det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)


def test_preset_parameters(planted):
    with pytest.raises(ValueError, match="Did you mean 'diag'"):
        GaussianMixtureDetector(covariance_type="diagonal").fit(planted.embeddings)
    with pytest.raises(ValueError, match="n_init must be an integer >= 1"):
        KMeansDetector(n_init=0).fit(planted.embeddings)
    with pytest.raises(TypeError, match="n_components must be an int or a non-empty"):
        GaussianMixtureDetector(n_components=()).fit(planted.embeddings)


def test_tiny_class_is_one_cluster_and_no_candidate():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(60, 4))
    y = np.r_[np.ones(3, bool), np.zeros(57, bool)]
    s = rng.normal(size=60) + y
    det = KMeansDetector(n_clusters=(4, 5), **FAST).fit(E, y_true=y, y_score=s)
    pos = det.clusters_[det.clusters_["class"] == "positives"]
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
        {"holdout": 0.3, "n_stability": 0},
    ],
)
def test_options_keep_the_contract(params, planted):
    det = KMeansDetector(**{**FAST, **params})
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    assert np.array_equal(det.predict(planted.embeddings, y_true=planted.y_true), det.labels_)
    assert planted.subclass[det.labels_ == 0].mean() > 0.9
    if "holdout" in params:
        held = det.inference_mask_[planted.y_true].mean()
        assert held == pytest.approx(0.3, abs=0.01)
        assert np.isnan(det.stability_)
        assert det.clusters_["stability"].isna().all()


def test_stability_refits_give_the_same_columns_for_every_n_jobs():
    from hstrat.detect import KMeansDetector

    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.5
    embeddings = rng.normal(size=(400, 6)) + 2.0 * y[:, None]
    scores = rng.normal(size=400) + y
    fits = [
        KMeansDetector(n_stability=4, n_jobs=n_jobs, random_state=1).fit(
            embeddings, y_true=y, y_score=scores
        )
        for n_jobs in (1, 2, None)
    ]
    for other in fits[1:]:
        pd.testing.assert_frame_equal(other.clusters_, fits[0].clusters_)


def test_every_detector_defaults_to_the_benchmarks_choice():
    """The default the discovery benchmark measured: k and leaders by the error rate."""
    from hstrat.detect import ClusterDetector, GaussianMixtureDetector

    for cls in (ClusterDetector, KMeansDetector, GaussianMixtureDetector):
        assert cls().get_params()["criterion"] == "error_rate"
