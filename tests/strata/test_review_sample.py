import numpy as np
import pandas as pd
import pytest

import hstrat
from hstrat import Predictions, Stratum
from hstrat.metrics import operating_threshold
from hstrat.strata import review_sample
from hstrat.strata._review import REVIEW_COLUMNS


@pytest.fixture
def predictions():
    rng = np.random.default_rng(3)
    n = 600
    y = rng.random(n) < 0.3
    score = rng.normal(size=n) + 1.4 * y
    embeddings = np.c_[score + rng.normal(scale=0.1, size=n), rng.normal(size=n)]
    ids = pd.Index([f"case{i:03d}" for i in range(n)], name="id")
    return Predictions(y, score, ids=ids, embeddings=embeddings)


def outcome_of(p, threshold):
    called = p.y_score >= threshold
    return np.where(p.y_true, np.where(called, "TP", "FN"), np.where(called, "FP", "TN"))


def test_errors_pick_the_most_confident_mistakes_first(predictions):
    t = operating_threshold(predictions.y_true, predictions.y_score)
    sample = review_sample(predictions, n=20, random_state=0, blind=False)
    assert list(sample.columns) == list(REVIEW_COLUMNS)
    assert sample["reason"].value_counts().to_dict() == {
        "false negative": 8,
        "confident false positive": 8,
        "random control": 4,
    }
    fn = sample[sample.reason == "false negative"]
    all_fn = np.sort(predictions.y_score[predictions.y_true & (predictions.y_score < t)])
    assert fn["y_score"].tolist() == all_fn[:8].tolist()
    assert fn["rank"].tolist() == list(range(1, 9))
    assert (fn["outcome"] == "FN").all()
    assert fn["y_true"].all()
    fp = sample[sample.reason == "confident false positive"]
    all_fp = np.sort(predictions.y_score[~predictions.y_true & (predictions.y_score >= t)])[::-1]
    assert fp["y_score"].tolist() == all_fp[:8].tolist()
    controls = sample[sample.reason == "random control"]
    assert set(controls["outcome"]) <= {"TP", "TN"}
    assert sorted(controls["outcome"]) == ["TN", "TN", "TP", "TP"]  # as many as FN vs FP
    # rows point back at the predictions
    assert (predictions.ids[sample["position"]] == sample["id"]).all()
    assert np.array_equal(predictions.y_score[sample["position"]], sample["y_score"])


def test_ids_are_unique_and_order_is_blinded(predictions):
    blind = review_sample(predictions, n=30, random_state=1)
    ordered = review_sample(predictions, n=30, random_state=1, blind=False)
    assert blind["id"].is_unique
    assert set(blind["id"]) == set(ordered["id"])
    assert blind["reason"].tolist() != ordered["reason"].tolist()
    assert ordered["reason"].tolist() == sorted(
        ordered["reason"].tolist(),
        key=["false negative", "confident false positive", "random control"].index,
    )


def test_same_seed_same_sample(predictions):
    for strategy in ("errors", "random", "stratified", "clusters"):
        kwargs = {"clusters": np.arange(600) % 4} if strategy == "clusters" else {}
        a = review_sample(predictions, strategy=strategy, n=25, random_state=7, **kwargs)
        b = review_sample(predictions, strategy=strategy, n=25, random_state=7, **kwargs)
        pd.testing.assert_frame_equal(a, b)
    c = review_sample(predictions, strategy="random", n=25, random_state=8)
    assert (
        c["id"].tolist()
        != review_sample(predictions, strategy="random", n=25, random_state=7)["id"].tolist()
    )


def test_controls_share_and_no_controls(predictions):
    none = review_sample(predictions, n=10, controls=0.0, random_state=0)
    assert "random control" not in set(none["reason"])
    half = review_sample(predictions, n=10, controls=0.5, random_state=0)
    assert (half["reason"] == "random control").sum() == 5


def test_few_errors_keep_the_control_share():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    s = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.2, 0.3, 0.4, 0.75, 0.05])
    p = Predictions(y, s)
    sample = review_sample(p, n=20, threshold=0.5, controls=0.5, random_state=0, blind=False)
    assert sample["reason"].tolist() == [
        "false negative",
        "confident false positive",
        "random control",
        "random control",
    ]
    assert sample["outcome"].tolist()[:2] == ["FN", "FP"]


def test_random_strategy(predictions):
    sample = review_sample(predictions, strategy="random", n=50, random_state=0)
    assert len(sample) == 50
    assert sample["id"].is_unique
    assert set(sample["reason"]) == {"random"}
    assert sample["stratum"].isna().all()
    everyone = review_sample(predictions, strategy="random", n=1000, random_state=0)
    assert len(everyone) == 600  # at most the available cases


def test_stratified_strategy_takes_each_outcome_in_turn(predictions):
    sample = review_sample(predictions, strategy="stratified", n=40, random_state=0)
    assert set(sample["reason"]) == {"stratified random"}
    assert sample["outcome"].value_counts().to_dict() == {"FN": 10, "FP": 10, "TP": 10, "TN": 10}
    t = operating_threshold(predictions.y_true, predictions.y_score)
    assert (outcome_of(predictions, t)[sample["position"]] == sample["outcome"]).all()


def test_threshold_can_be_given(predictions):
    sample = review_sample(predictions, n=10, threshold=10.0, controls=0.0)
    assert set(sample["reason"]) == {"false negative"}
    with pytest.raises(ValueError, match="finite"):
        review_sample(predictions, threshold=float("nan"))


class FakeDetector:
    """Stands in for hstrat.detect: two clusters of the positives, split on embedding 2."""

    name = "fake"

    def fit(self, embeddings, *, y_true, y_score, threshold):
        self.masks_ = {
            "positives:0": y_true & (embeddings[:, 1] < 0),
            "positives:1": y_true & (embeddings[:, 1] >= 0),
        }
        self.clusters_ = pd.DataFrame({"cluster": list(self.masks_)})
        return self

    def to_strata(self):
        return [Stratum(m, "positives", name=k) for k, m in self.masks_.items()]


def test_clusters_from_a_report_are_sampled_worst_first(predictions):
    drain = predictions.y_true & (np.arange(600) % 2 == 0)
    report = hstrat.evaluate(
        predictions.y_true,
        predictions.y_score,
        {"drain": drain},
        embeddings=predictions.embeddings,
        detectors=[FakeDetector()],
        ids=predictions.ids,
        ci="delong",
        progress=False,
    )
    sample = review_sample(report, strategy="clusters", n=10, random_state=0, blind=False)
    assert set(sample["reason"]) == {"cluster exemplar"}
    table = report.table.set_index("stratum")
    worst = table.loc[["fake:positives:0", "fake:positives:1"], "auc"].idxmin()
    assert sample["stratum"].iloc[0] == worst
    assert sample["stratum"].value_counts().to_dict() == {
        "fake:positives:0": 5,
        "fake:positives:1": 5,
    }
    # exemplars are the members nearest the cluster's mean embedding, nearest first
    for name, rows in sample.groupby("stratum"):
        stratum = next(s for s in report.strata if s.name == name)
        members = np.flatnonzero(stratum.mask)
        centre = predictions.embeddings[members].mean(axis=0)
        distance = np.linalg.norm(predictions.embeddings[members] - centre, axis=1)
        nearest = members[np.argsort(distance, kind="stable")[:5]]
        assert rows.sort_values("rank")["position"].tolist() == nearest.tolist()
    # the schema strata ("family" strata) are not clusters
    assert "drain" not in set(sample["stratum"])


def test_clusters_from_labels_without_embeddings():
    rng = np.random.default_rng(0)
    y = rng.random(100) < 0.5
    p = Predictions(y, rng.normal(size=100) + y)
    labels = np.where(np.arange(100) < 10, -1, np.arange(100) % 3)
    sample = review_sample(p, strategy="clusters", clusters=labels, n=9, random_state=0)
    assert sample["stratum"].value_counts().to_dict() == {
        "cluster 0": 3,
        "cluster 1": 3,
        "cluster 2": 3,
    }
    assert (sample["position"] >= 10).all()  # -1 = unassigned, never picked


def test_clusters_need_clusters(predictions):
    with pytest.raises(ValueError, match="needs clusters"):
        review_sample(predictions, strategy="clusters")
    report = hstrat.evaluate(predictions.y_true, predictions.y_score, ci="delong", progress=False)
    with pytest.raises(ValueError, match="needs clusters"):
        review_sample(report, strategy="clusters")


def test_a_report_supplies_its_operating_point(predictions):
    report = hstrat.evaluate(
        predictions.y_true,
        predictions.y_score,
        threshold=0.0,
        ids=predictions.ids,
        ci="delong",
        progress=False,
    )
    sample = review_sample(report, n=30, controls=0.0, random_state=0)
    fn = sample[sample.reason == "false negative"]
    assert (fn["y_score"] < 0.0).all()
    assert (sample[sample.reason == "confident false positive"]["y_score"] >= 0.0).all()


def test_bad_arguments_are_named(predictions):
    with pytest.raises(ValueError, match=r"strategy must be one of .* Did you mean 'errors'"):
        review_sample(predictions, strategy="error")
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        review_sample(predictions, n=0)
    with pytest.raises(ValueError, match=r"controls must be in \[0, 1\)"):
        review_sample(predictions, controls=1.0)
    with pytest.raises(TypeError, match="controls must be a number"):
        review_sample(predictions, controls="a lot")
    with pytest.raises(ValueError, match="only used with strategy='clusters'"):
        review_sample(predictions, clusters=np.zeros(600))
    with pytest.raises(ValueError, match="one entry per case"):
        review_sample(predictions, strategy="clusters", clusters=[0, 1])
    with pytest.raises(TypeError, match="AuditReport or Predictions"):
        review_sample(predictions.to_frame())
    with pytest.raises(TypeError, match="threshold must be a number"):
        review_sample(predictions, threshold="youden")


def test_a_report_saved_without_predictions_is_refused(predictions):
    report = hstrat.evaluate(predictions.y_true, predictions.y_score, ci="delong", progress=False)
    bare = hstrat.AuditReport.from_json(report.to_json(include_predictions=False))
    with pytest.raises(ValueError, match="has no predictions"):
        review_sample(bare)


@pytest.mark.parametrize("strategy", ["random", "stratified", "errors"])
def test_population_restricts_the_cases_picked(strategy):
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.3
    predictions = hstrat.Predictions(y, rng.normal(size=400) + 1.2 * y)
    sample = review_sample(
        predictions, strategy=strategy, n=50, population="positives", random_state=0
    )
    # "errors" returns fewer when there are fewer errors (controls keep their share)
    assert len(sample) == 50 if strategy != "errors" else 0 < len(sample) <= 50
    assert sample["y_true"].all()
    negatives = review_sample(
        predictions, strategy=strategy, n=30, population="negatives", random_state=0
    )
    assert not negatives["y_true"].any()
    with pytest.raises(ValueError, match="population"):
        review_sample(predictions, population="cases")
