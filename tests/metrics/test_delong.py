"""DeLong's variance, interval and paired test against R's pROC, brute force and theory.

The pROC values live in ``tests/reference/proc_reference.json`` beside the R script
that produced them (``tests/reference/make_proc_reference.R``); R is not needed here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from hstrat.exceptions import UndefinedMetricWarning
from hstrat.metrics import delong_ci, delong_test

REFERENCE = json.loads(
    (Path(__file__).parents[1] / "reference" / "proc_reference.json").read_text()
)
SINGLE = {d["name"]: d for d in REFERENCE["single"]}
PAIRED = {d["name"]: d for d in REFERENCE["paired"]}
# Datasets on which pROC's DeLong variance exists (at least two cases of each class).
WITH_VARIANCE = [name for name, d in SINGLE.items() if d["var"] is not None]


def nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


# --------------------------------------------------------------------------- brute force


def brute_force_components(y, s):
    """Structural components by an explicit double loop over positive-negative pairs."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=float)
    pos = [float(v) for v in s[y]]
    neg = [float(v) for v in s[~y]]
    psi = [[1.0 if p > q else 0.5 if p == q else 0.0 for q in neg] for p in pos]
    m, n = len(pos), len(neg)
    v10 = np.array([sum(row) / n for row in psi])
    v01 = np.array([sum(psi[i][j] for i in range(m)) / m for j in range(n)])
    theta = sum(sum(row) for row in psi) / (m * n)
    return theta, v10, v01


def brute_force_delong_variance(y, s):
    theta, v10, v01 = brute_force_components(y, s)
    m, n = len(v10), len(v01)
    s10 = sum((v - theta) ** 2 for v in v10) / (m - 1)
    s01 = sum((v - theta) ** 2 for v in v01) / (n - 1)
    return theta, s10 / m + s01 / n


def brute_force_paired(y, a, b):
    """AUCs, variances and covariance of two models on the same cases (DeLong 1988)."""
    ta, a10, a01 = brute_force_components(y, a)
    tb, b10, b01 = brute_force_components(y, b)
    m, n = len(a10), len(a01)
    s10 = np.cov(np.vstack([a10, b10]), ddof=1)
    s01 = np.cov(np.vstack([a01, b01]), ddof=1)
    cov = s10 / m + s01 / n
    return ta, tb, cov


def cluster_influence_variance(y, s, groups, s_other=None):
    """Obuchowski's (1997) clustered variance spelled out from brute-force components:
    per cluster, p = summed (V10 - AUC)/m over its positives and q = summed
    (V01 - AUC)/n over its negatives; var = I10/(I10-1) sum p^2 + I01/(I01-1) sum q^2
    + 2 I/(I-1) sum p q. With ``s_other``, the variance of AUC(s) - AUC(s_other)."""
    y = np.asarray(y, dtype=bool)
    theta, v10, v01 = brute_force_components(y, s)
    m, n = len(v10), len(v01)
    influence = np.empty(len(y))
    influence[y] = (v10 - theta) / m
    influence[~y] = (v01 - theta) / n
    if s_other is not None:
        theta_b, b10, b01 = brute_force_components(y, s_other)
        influence[y] -= (b10 - theta_b) / m
        influence[~y] -= (b01 - theta_b) / n
    frame = pd.DataFrame(
        {"g": groups, "p": np.where(y, influence, 0.0), "q": np.where(y, 0.0, influence)}
    )
    sums = frame.groupby("g").sum()
    i10 = frame.loc[y, "g"].nunique()
    i01 = frame.loc[~y, "g"].nunique()
    i_all = frame["g"].nunique()
    return (
        i10 / (i10 - 1) * np.sum(sums["p"] ** 2)
        + i01 / (i01 - 1) * np.sum(sums["q"] ** 2)
        + 2 * i_all / (i_all - 1) * np.sum(sums["p"] * sums["q"])
    )


def tie_heavy_data(rng, n_pos, n_neg, levels=6):
    y = rng.permutation(np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)])
    s = rng.integers(0, levels, size=n_pos + n_neg) + y * rng.integers(0, 3, size=len(y))
    return y, s.astype(float)


# --------------------------------------------------------------------------- pROC


@pytest.mark.parametrize("name", list(SINGLE))
def test_estimate_equals_proc_auc(name):
    d = SINGLE[name]
    if d["var"] is None:
        with pytest.warns(UndefinedMetricWarning, match="two positives"):
            r = delong_ci(d["y_true"], d["y_score"])
    else:
        r = delong_ci(d["y_true"], d["y_score"])
    assert r.estimate == pytest.approx(d["auc"], abs=1e-12)
    assert (r.n_pos, r.n_neg) == (d["n_pos"], d["n_neg"])
    assert r.method == "delong"


@pytest.mark.parametrize("name", WITH_VARIANCE)
@pytest.mark.parametrize("level", [0.95, 0.90])
def test_variance_and_interval_equal_proc(name, level):
    d = SINGLE[name]
    ref = d[f"ci_delong_{round(level * 100)}"]
    r = delong_ci(d["y_true"], d["y_score"], confidence_level=level)
    assert r.standard_error**2 == pytest.approx(d["var"], abs=1e-12)
    assert r.ci_low == pytest.approx(ref["ci_low"], abs=1e-6)
    assert r.ci_high == pytest.approx(ref["ci_high"], abs=1e-6)
    assert r.confidence_level == level


def test_reference_includes_clipped_and_degenerate_intervals():
    # The reference would not test clipping if no interval reached a bound.
    assert SINGLE["unbalanced"]["ci_delong_95"]["ci_high"] == 1
    assert SINGLE["small"]["ci_delong_95"]["ci_high"] == 1
    assert SINGLE["perfect"]["var"] == 0


def test_perfect_separation_has_zero_width_interval():
    d = SINGLE["perfect"]
    r = delong_ci(d["y_true"], d["y_score"])
    assert (r.estimate, r.standard_error, r.ci_low, r.ci_high) == (1.0, 0.0, 1.0, 1.0)


def test_single_positive_gives_nan_interval_like_proc():
    d = SINGLE["single_positive"]
    assert d["ci_delong_95"]["ci_low"] is None  # pROC: NA
    with pytest.warns(UndefinedMetricWarning, match="at least two positives and two negatives"):
        r = delong_ci(d["y_true"], d["y_score"])
    assert r.estimate == pytest.approx(d["auc"], abs=1e-12)
    assert math.isnan(r.standard_error)
    assert math.isnan(r.ci_low)
    assert math.isnan(r.ci_high)


@pytest.mark.parametrize("name", list(PAIRED))
@pytest.mark.parametrize("level", [0.95, 0.90])
def test_paired_test_equals_proc_roc_test(name, level):
    d = PAIRED[name]
    ref = d[f"test_{round(level * 100)}"]
    t = delong_test(d["y_true"], d["score_a"], d["score_b"], confidence_level=level)
    assert t.statistic == pytest.approx(ref["statistic"], abs=1e-6)
    assert t.p_value == pytest.approx(ref["p_value"], abs=1e-6)
    # pROC's roc.test returns conf.int = d +- z sd(d), unclipped (none reaches +-1 here).
    assert t.ci_low == pytest.approx(ref["ci_low"], abs=1e-6)
    assert t.ci_high == pytest.approx(ref["ci_high"], abs=1e-6)
    assert t.difference == pytest.approx(d["auc_a"] - d["auc_b"], abs=1e-12)
    # var(AUC_a - AUC_b) from pROC's var() and cov().
    var_diff = d["var_a"] + d["var_b"] - 2 * d["cov_ab"]
    assert t.standard_error**2 == pytest.approx(var_diff, abs=1e-12)
    assert t.method == "delong"
    assert t.confidence_level == level


def test_paired_reference_has_a_significant_difference_and_ties():
    d = PAIRED["correlated"]
    assert d["test_95"]["p_value"] < 0.05
    assert len(set(d["score_b"])) < len(d["score_b"]) / 2


@pytest.mark.parametrize("name", list(PAIRED))
def test_paired_scores_each_match_proc_variance(name):
    d = PAIRED[name]
    for score, key in (("score_a", "a"), ("score_b", "b")):
        r = delong_ci(d["y_true"], d[score])
        assert r.estimate == pytest.approx(d[f"auc_{key}"], abs=1e-12)
        assert r.standard_error**2 == pytest.approx(d[f"var_{key}"], abs=1e-12)


# --------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("seed", range(6))
def test_variance_equals_brute_force_double_loop_on_tied_data(seed):
    rng = np.random.default_rng(seed)
    n_pos, n_neg = int(rng.integers(2, 40)), int(rng.integers(2, 60))
    y, s = tie_heavy_data(rng, n_pos, n_neg)
    theta, variance = brute_force_delong_variance(y, s)
    r = delong_ci(y, s)
    assert r.estimate == pytest.approx(theta, abs=1e-12)
    assert r.estimate == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert r.standard_error**2 == pytest.approx(variance, rel=1e-10, abs=1e-15)
    z = stats.norm.ppf(0.975)
    se = math.sqrt(variance)
    assert r.ci_low == pytest.approx(max(0.0, theta - z * se), abs=1e-12)
    assert r.ci_high == pytest.approx(min(1.0, theta + z * se), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_paired_test_equals_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    y, a = tie_heavy_data(rng, 25, 35)
    b = np.round(a + rng.normal(0, 1.5, size=len(a)))
    ta, tb, cov = brute_force_paired(y, a, b)
    se = math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    z = (ta - tb) / se
    t = delong_test(y, a, b)
    assert t.difference == pytest.approx(ta - tb, abs=1e-12)
    assert t.standard_error == pytest.approx(se, rel=1e-10)
    assert t.statistic == pytest.approx(z, rel=1e-9)
    assert t.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)


def test_paired_test_is_antisymmetric():
    d = PAIRED["correlated"]
    ab = delong_test(d["y_true"], d["score_a"], d["score_b"])
    ba = delong_test(d["y_true"], d["score_b"], d["score_a"])
    assert ba.statistic == pytest.approx(-ab.statistic, abs=1e-12)
    assert ba.p_value == pytest.approx(ab.p_value, abs=1e-12)
    assert (ba.ci_low, ba.ci_high) == pytest.approx((-ab.ci_high, -ab.ci_low), abs=1e-12)


# --------------------------------------------------------------------------- invariance


@pytest.mark.parametrize("name", ["continuous", "ratings", "small"])
def test_invariant_to_sample_order(name):
    d = SINGLE[name]
    y, s = np.array(d["y_true"]), np.array(d["y_score"])
    r = delong_ci(y, s)
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(y))
        rp = delong_ci(y[perm], s[perm])
        assert rp.estimate == pytest.approx(r.estimate, abs=1e-14)
        assert rp.standard_error == pytest.approx(r.standard_error, rel=1e-12)
        assert (rp.ci_low, rp.ci_high) == pytest.approx((r.ci_low, r.ci_high), abs=1e-12)


def test_paired_test_invariant_to_sample_order():
    d = PAIRED["ratings_small"]
    y, a, b = (np.array(d[k]) for k in ("y_true", "score_a", "score_b"))
    t = delong_test(y, a, b)
    perm = np.random.default_rng(7).permutation(len(y))
    tp = delong_test(y[perm], a[perm], b[perm])
    assert tp.statistic == pytest.approx(t.statistic, rel=1e-12)
    assert tp.p_value == pytest.approx(t.p_value, rel=1e-12)


def test_labels_may_be_bool_or_float_or_pandas():
    d = SINGLE["continuous"]
    y, s = np.array(d["y_true"]), np.array(d["y_score"])
    ref = delong_ci(y, s)
    for labels, scores in (
        (y.astype(bool), s),
        (y.astype(float), s.tolist()),
        (pd.Series(y), pd.Series(s)),
    ):
        r = delong_ci(labels, scores)
        assert r.estimate == ref.estimate
        assert r.standard_error == ref.standard_error


# --------------------------------------------------------------------------- groups


def test_singleton_groups_give_delongs_variance():
    # Obuchowski's estimator with one case per cluster is DeLong's variance, i.e. pROC's.
    d = SINGLE["continuous"]
    y, s = np.array(d["y_true"]), np.array(d["y_score"])
    r = delong_ci(y, s, groups=np.arange(len(y)))
    assert r.standard_error**2 == pytest.approx(d["var"], rel=1e-10)
    # Group labels are arbitrary: strings in any order give the same result.
    labels = np.array([f"case-{i}" for i in np.random.default_rng(0).permutation(len(y))])
    assert delong_ci(y, s, groups=labels).standard_error == pytest.approx(r.standard_error)


def test_one_cluster_of_positives_is_undefined():
    y = np.array([1, 1, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.3, 0.1, 0.2, 0.5, 0.4, 0.35])
    with pytest.warns(UndefinedMetricWarning, match="two clusters holding positives"):
        r = delong_ci(y, s, groups=[0, 0, 1, 2, 3, 4, 5])
    assert np.isnan(r.standard_error)
    with pytest.warns(UndefinedMetricWarning):
        r = delong_ci([1, 0, 0, 0, 0, 0, 0], s, groups=np.arange(7))
    assert np.isnan(r.ci_low)


def make_clustered(seed, n_groups=60, max_size=4):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_size + 1, size=n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    patient = rng.normal(size=n_groups)[groups]
    prevalence = rng.uniform(0.1, 0.7, size=n_groups)[groups]
    y = (rng.random(len(groups)) < prevalence).astype(int)
    s = np.round(patient + rng.normal(size=len(groups)) + y, 1)
    ids = np.array([f"patient-{g:03d}" for g in rng.permutation(n_groups)])[groups]
    perm = rng.permutation(len(groups))
    return y[perm], s[perm], ids[perm]


@pytest.mark.parametrize("seed", range(3))
def test_grouped_variance_equals_explicit_cluster_formula(seed):
    y, s, groups = make_clustered(seed)
    r = delong_ci(y, s, groups=groups)
    assert r.standard_error**2 == pytest.approx(
        cluster_influence_variance(y, s, groups), rel=1e-10
    )
    assert r.estimate == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_grouped_variance_agrees_with_cluster_jackknife():
    y, s, groups = make_clustered(11, n_groups=400)
    labels = np.unique(groups)
    loo = np.array([roc_auc_score(y[groups != g], s[groups != g]) for g in labels])
    k = len(labels)
    jackknife_variance = (k - 1) / k * np.sum((loo - loo.mean()) ** 2)
    r = delong_ci(y, s, groups=groups)
    assert r.standard_error**2 == pytest.approx(jackknife_variance, rel=0.03)


def test_grouped_paired_test_uses_cluster_covariance():
    y, a, groups = make_clustered(5)
    b = np.round(a + np.random.default_rng(5).normal(0, 1, size=len(a)), 1)
    t = delong_test(y, a, b, groups=groups)
    va = cluster_influence_variance(y, a, groups)
    vb = cluster_influence_variance(y, b, groups)
    var_diff = cluster_influence_variance(y, a, groups, s_other=b)
    ta, tb = roc_auc_score(y, a), roc_auc_score(y, b)
    assert t.standard_error**2 == pytest.approx(var_diff, rel=1e-10)
    assert var_diff != pytest.approx(va + vb, rel=1e-3)  # the covariance term matters
    assert t.statistic == pytest.approx((ta - tb) / math.sqrt(var_diff), rel=1e-9)


# --------------------------------------------------------------------------- undefined


@pytest.mark.parametrize(
    ("y", "reason"),
    [([1, 1, 1, 1], "no negative cases"), ([0, 0, 0, 0], "no positive cases")],
)
def test_one_class_gives_nan_and_warning(y, reason):
    with pytest.warns(UndefinedMetricWarning, match=reason):
        r = delong_ci(y, [0.1, 0.2, 0.3, 0.4])
    assert all(math.isnan(v) for v in (r.estimate, r.ci_low, r.ci_high, r.standard_error))


def test_empty_input_is_refused_naming_y_true():
    with pytest.raises(ValueError, match="y_true is empty"):
        delong_ci(np.array([], dtype=int), np.array([], dtype=float))


def test_single_negative_gives_nan_interval():
    with pytest.warns(UndefinedMetricWarning, match="two positives and two negatives"):
        r = delong_ci([1, 1, 1, 0], [0.9, 0.2, 0.8, 0.3])
    assert r.estimate == pytest.approx(2 / 3)
    assert math.isnan(r.ci_low)
    assert math.isnan(r.ci_high)


@pytest.mark.parametrize("y", [[1, 1, 1, 1], [0, 0, 0, 0]])
def test_delong_test_refuses_one_class(y):
    with pytest.raises(ValueError, match="both classes"):
        delong_test(y, [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1])


# --------------------------------------------------------------------------- bad input

Y = [0, 1, 0, 1, 1, 0]
S = [0.1, 0.8, 0.3, 0.6, 0.5, 0.2]


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"y_score": [0.1, np.nan, 0.3, 0.6, 0.5, 0.2]}, ValueError, "y_score.*finite"),
        ({"y_score": [0.1, np.inf, 0.3, 0.6, 0.5, 0.2]}, ValueError, "y_score.*finite"),
        ({"y_score": np.ones((6, 2))}, ValueError, r"y_score must be 1-D.*\(6, 2\)"),
        ({"y_score": list("abcdef")}, TypeError, "y_score must be real numbers"),
        ({"y_score": S[:5]}, ValueError, r"y_score must have one entry per case \(6\); got 5"),
        ({"y_true": [0, 1, 2, 1, 1, 0]}, ValueError, "y_true must contain only 0 and 1"),
        ({"y_true": [-1, 1, -1, 1, 1, -1]}, ValueError, "y_true must contain only 0 and 1"),
        ({"y_true": list("abaabb")}, TypeError, "y_true must be boolean or 0/1"),
        ({"y_true": [0, 1, np.nan, 1, 1, 0]}, ValueError, "y_true contains NaN"),
        ({"confidence_level": 1.5}, ValueError, r"confidence_level must be in \(0, 1\); got 1.5"),
        ({"confidence_level": 0}, ValueError, "confidence_level"),
        ({"confidence_level": "0.95"}, TypeError, "confidence_level"),
        ({"groups": [1, 2, 3]}, ValueError, r"groups must have one entry per case \(6\)"),
        ({"groups": [1, 2, None, 3, 4, 5]}, ValueError, "groups contains a missing value"),
    ],
)
def test_delong_ci_bad_input(kwargs, error, pattern):
    args = {"y_true": Y, "y_score": S, **kwargs}
    with pytest.raises(error, match=pattern):
        delong_ci(args.pop("y_true"), args.pop("y_score"), **args)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"score_a": [0.1, np.nan, 0.3, 0.6, 0.5, 0.2]}, ValueError, "score_a must be finite"),
        ({"score_b": [0.1, np.nan, 0.3, 0.6, 0.5, 0.2]}, ValueError, "score_b must be finite"),
        ({"score_b": S[:4]}, ValueError, "score_b"),
        ({"score_a": S[:4]}, ValueError, "score_a"),
        ({"score_b": np.ones((6, 1))}, ValueError, "score_b must be 1-D"),
        ({"score_b": list("abcdef")}, TypeError, "score_b"),
        ({"y_true": [0, 1, 2, 1, 1, 0]}, ValueError, "y_true"),
        ({"confidence_level": 1.5}, ValueError, "confidence_level"),
    ],
)
def test_delong_test_bad_input(kwargs, error, pattern):
    args = {"y_true": Y, "score_a": S, "score_b": S[::-1], **kwargs}
    with pytest.raises(error, match=pattern):
        delong_test(args.pop("y_true"), args.pop("score_a"), args.pop("score_b"), **args)


def test_misaligned_pandas_inputs_are_refused():
    y = pd.Series(Y, index=range(6))
    s = pd.Series(S, index=range(1, 7))
    with pytest.raises(ValueError, match="positions or ids"):
        delong_ci(y, s)
