import numpy as np
import pandas as pd
import pytest

import hstrat
from hstrat._audit import TABLE_COLUMNS
from hstrat.metrics import operating_threshold, stratified_auc, stratified_threshold_metrics

DESIGN_COLUMNS = [
    "stratum",
    "variable",
    "level",
    "population",
    "n",
    "n_pos",
    "n_neg",
    "auc",
    "auc_low",
    "auc_high",
    "auc_se",
    "ci_method",
    "reference",
    "auc_diff",
    "p_value",
    "p_adjusted",
    "threshold",
    "sensitivity",
    "sensitivity_low",
    "sensitivity_high",
    "specificity",
    "specificity_low",
    "specificity_high",
    "defined",
    "note",
]


def data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    drain = y & (rng.random(n) < 0.7)
    site = rng.choice(["A", "B", "C"], n)
    s = rng.normal(size=n) + 0.6 * y + 1.5 * drain
    return y, s, drain, site


def test_table_has_the_design_columns_and_overall_first():
    y, s, drain, _ = data()
    report = hstrat.evaluate(
        y, s, {"drain": drain}, n_resamples=200, random_state=0, progress=False
    )
    assert set(DESIGN_COLUMNS) <= set(report.table.columns)
    assert list(report.table.columns) == TABLE_COLUMNS
    assert report.table.iloc[0]["stratum"] == "overall"
    assert report.table.iloc[0]["family"] == "overall"


def test_table_agrees_with_the_metric_functions():
    y, s, drain, site = data()
    strata = {"drain": drain, "site A": site == "A"}
    report = hstrat.evaluate(y, s, strata, n_resamples=300, random_state=3, progress=False)
    aucs = stratified_auc(y, s, strata, n_resamples=300, random_state=3)
    for col in ["auc", "auc_low", "auc_high", "auc_diff", "p_value", "p_adjusted"]:
        assert np.allclose(report.table[col], aucs[col], equal_nan=True), col
    t = operating_threshold(y, s)
    at = stratified_threshold_metrics(y, s, strata, t)
    for col in ["sensitivity", "specificity_low", "ppv", "sensitivity_p_value"]:
        assert np.allclose(report.table[col], at[col], equal_nan=True), col
    assert report.threshold == t


def test_same_random_state_same_report():
    y, s, drain, _ = data()
    a = hstrat.evaluate(y, s, {"drain": drain}, n_resamples=200, random_state=5, progress=False)
    b = hstrat.evaluate(y, s, {"drain": drain}, n_resamples=200, random_state=5, progress=False)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.provenance["data_sha256"] == b.provenance["data_sha256"]


def test_labels_keyed_by_id_are_joined_whatever_their_order():
    y, s, _, site = data()
    ids = pd.Index([f"img{i}" for i in range(len(y))])
    labels = pd.DataFrame({"site": site}, index=ids)
    shuffled = labels.sample(frac=1.0, random_state=1)
    a = hstrat.evaluate(y, s, labels, ids=ids, ci="delong", random_state=0, progress=False)
    b = hstrat.evaluate(y, s, shuffled, ids=ids, ci="delong", random_state=0, progress=False)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_series_index_gives_ids():
    y, s, _, site = data()
    ids = [f"id{i}" for i in range(len(y))]
    yy = pd.Series(y, index=ids)
    ss = pd.Series(s, index=ids)
    labels = pd.Series(site, index=ids, name="site").iloc[::-1]
    report = hstrat.evaluate(yy, ss, labels, ci="delong", random_state=0, progress=False)
    direct = hstrat.evaluate(
        y, s, pd.Series(site, name="site"), ci="delong", random_state=0, progress=False
    )
    pd.testing.assert_frame_equal(report.table, direct.table)
    assert report.predictions.ids.tolist() == ids


def test_missing_ids_are_unlabelled_and_extra_ids_warned():
    y, s, _, site = data(n=600)
    ids = pd.Index(range(100, 700))
    labels = pd.Series(site[:550], index=range(100, 650), name="site")
    extra = pd.concat([labels, pd.Series(["A"], index=[999], name="site")])
    report = hstrat.evaluate(y, s, labels, ids=ids, ci="delong", random_state=0, progress=False)
    assert report.table.iloc[1]["n_unlabelled"] == 50
    with pytest.warns(UserWarning, match="1 ids that are not among the cases"):
        hstrat.evaluate(y, s, extra, ids=ids, ci="delong", random_state=0, progress=False)
    with pytest.raises(ValueError, match="none of strata's ids"):
        hstrat.evaluate(
            y,
            s,
            pd.Series(site, index=range(1000, 1600)),
            ids=ids,
            ci="delong",
            random_state=0,
            progress=False,
        )


def test_callable_strata_over_metadata_and_groups_column():
    y, s, _, site = data()
    meta = pd.DataFrame({"site": site, "patient": np.arange(len(y)) // 2})
    report = hstrat.evaluate(
        y,
        s,
        lambda m: {"site A": (m["site"] == "A").to_numpy()},
        metadata=meta,
        groups="patient",
        n_resamples=100,
        random_state=0,
        progress=False,
    )
    assert report.table["stratum"].tolist() == ["overall", "site A"]
    assert report.provenance["groups"] == "patient"
    with pytest.raises(ValueError, match="groups='ward' is not a metadata column"):
        hstrat.evaluate(y, s, None, metadata=meta, groups="ward", progress=False)
    with pytest.raises(ValueError, match="callable, which needs metadata"):
        hstrat.evaluate(y, s, lambda m: {}, progress=False)
    # a callable per entry is a slip for one callable over metadata: named, not read as a mask
    with pytest.raises(TypeError, match=r"strata\['site A'\] is a callable; pass one callable"):
        hstrat.evaluate(y, s, {"site A": lambda m: m["site"] == "A"}, metadata=meta)


def test_threshold_options():
    y, s, drain, _ = data()
    fixed = hstrat.evaluate(
        y, s, {"drain": drain}, threshold=0.5, ci="delong", random_state=0, progress=False
    )
    assert fixed.threshold == 0.5
    assert fixed.provenance["threshold_rule"] == "given"
    sens = hstrat.evaluate(
        y, s, None, threshold={"sensitivity": 0.9}, ci="delong", random_state=0, progress=False
    )
    assert sens.table.iloc[0]["sensitivity"] >= 0.9
    with pytest.raises(TypeError, match="threshold must be"):
        hstrat.evaluate(y, s, None, threshold=[0.5], ci="delong", random_state=0, progress=False)
    with pytest.raises(ValueError, match="threshold key"):
        hstrat.evaluate(
            y, s, None, threshold={"recall": 0.9}, ci="delong", random_state=0, progress=False
        )


def test_options_checked_before_work():
    y, s, _, _ = data()
    with pytest.raises(ValueError, match="Did you mean 'bootstrap'"):
        hstrat.evaluate(y, s, None, ci="bootstrp")
    with pytest.raises(ValueError, match="detectors need embeddings"):
        hstrat.evaluate(
            y, s, None, detectors=[object()], ci="delong", random_state=0, progress=False
        )
    with pytest.raises(ValueError, match="only positives"):
        hstrat.evaluate(np.ones(5), np.arange(5.0))


def test_p_adjusted_within_family():
    y, s, drain, site = data(n=600)

    class FakeDetector:
        def fit(self, embeddings, y=None, *, y_true, y_score, threshold=None):
            self.clusters_ = pd.DataFrame({"cluster": ["c0"], "class": [1]})
            return self

        def to_strata(self):
            return [hstrat.Stratum(drain, "positives", name="c0", variable="fake", level="c0")]

    report = hstrat.evaluate(
        y,
        s,
        pd.Series(site, name="site"),
        embeddings=np.zeros((len(y), 2)),
        detectors=[FakeDetector()],
        ci="delong",
        random_state=0,
        progress=False,
    )
    t = report.table
    assert t["family"].tolist() == ["overall", "strata", "strata", "strata", "fake"]
    assert t.iloc[4]["stratum"] == "fake:c0"
    # a single test in its family is not adjusted for the others
    assert t.iloc[4]["p_adjusted"] == t.iloc[4]["p_value"]
    assert report.clusters["detector"].tolist() == ["fake"]


def test_shuffled_order_refuses_positions_but_joins_ids():
    y, s, _, site = data()
    labels = pd.Series(site, name="site")  # index 0..n-1
    no_ids = hstrat.Predictions(y, s, shuffled=True)
    with pytest.raises(ValueError, match="order is random"):
        hstrat.evaluate(no_ids, strata=labels, ci="delong", random_state=0, progress=False)
    with pytest.raises(ValueError, match="order is random"):
        hstrat.evaluate(
            no_ids, strata={"A": site == "A"}, ci="delong", random_state=0, progress=False
        )
    # the loader yielded dataset positions as ids, in a random order: an index is ids
    perm = np.random.default_rng(0).permutation(len(y))
    shuffled = hstrat.Predictions(y[perm], s[perm], ids=perm, shuffled=True)
    joined = hstrat.evaluate(shuffled, strata=labels, ci="delong", random_state=0, progress=False)
    direct = hstrat.evaluate(y, s, labels, ci="delong", random_state=0, progress=False)
    pd.testing.assert_frame_equal(joined.table, direct.table)
    # string ids and a default-indexed Series: positions or ids? refused, with both remedies
    named = hstrat.Predictions(y, s, ids=[f"x{i}" for i in range(len(y))])
    with pytest.raises(ValueError, match=r"positions or ids.*set_axis"):
        hstrat.evaluate(named, strata=labels, ci="delong", random_state=0, progress=False)
    by_position = hstrat.evaluate(
        named, strata=labels.set_axis(named.ids), ci="delong", random_state=0, progress=False
    )
    pd.testing.assert_frame_equal(by_position.table, direct.table)


def test_n_jobs_changes_no_number_and_is_checked():
    y, s, _, site = data()
    site = pd.Series(site, name="site")
    one = hstrat.evaluate(y, s, site, n_resamples=300, random_state=4, n_jobs=1, progress=False)
    every = hstrat.evaluate(y, s, site, n_resamples=300, random_state=4, progress=False)
    pd.testing.assert_frame_equal(one.table, every.table)
    with pytest.raises(ValueError, match="n_jobs"):
        hstrat.evaluate(y, s, site, n_jobs=0, progress=False)
