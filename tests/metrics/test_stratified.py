"""stratified_auc against independent references: brute-force DeLong components,
per-replicate recomputation with scikit-learn, statsmodels' corrections, and a
type-I-error simulation of the correlated tests."""

import numpy as np
import pandas as pd
import pytest
from resampling import sample_draws
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests

import hstrat.metrics._bootstrap as bootstrap_module
from hstrat import Stratum
from hstrat.exceptions import SmallStratumWarning, UndefinedMetricWarning
from hstrat.metrics import bootstrap_ci, delong_ci, stratified_auc
from hstrat.metrics._bootstrap import Resampler, resampling_cells


def drain_data(n_pos=80, n_neg=160, seed=0, effect=1.5):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
    drain = np.r_[rng.random(n_pos) < 0.6, np.zeros(n_neg, bool)]
    s = rng.normal(size=n_pos + n_neg) + 0.7 * y + effect * drain
    return y, s, drain


def psi(pos_scores, neg_scores):
    """The O(n^2) kernel matrix: 1 if positive above, 1/2 if tied."""
    return (pos_scores[:, None] > neg_scores[None, :]) + 0.5 * (
        pos_scores[:, None] == neg_scores[None, :]
    )


def brute_force_difference_variance(s, a_pos, b_pos, neg):
    """DeLong variance of AUC(a_pos vs neg) - AUC(b_pos vs neg), disjoint positives."""
    ka, kb = psi(s[a_pos], s[neg]), psi(s[b_pos], s[neg])
    v10_a, v10_b = ka.mean(axis=1), kb.mean(axis=1)
    v01_diff = ka.mean(axis=0) - kb.mean(axis=0)
    return (
        v10_a.var(ddof=1) / len(a_pos)
        + v10_b.var(ddof=1) / len(b_pos)
        + v01_diff.var(ddof=1) / len(neg)
    )


def test_delong_rows_match_delong_ci_on_the_population():
    y, s, drain = drain_data()
    table = stratified_auc(y, s, {"drain": drain}, ci="delong")
    row = table.iloc[1]
    members = drain | ~y
    ref = delong_ci(y[members], s[members])
    assert row["population"] == "positives"
    assert row["n_pos"] == drain.sum()
    assert row["n_neg"] == (~y).sum()
    assert row["auc"] == pytest.approx(ref.estimate, abs=1e-12)
    assert row["auc_se"] == pytest.approx(ref.standard_error, abs=1e-12)
    assert row["auc_low"] == pytest.approx(ref.ci_low, abs=1e-12)
    overall = delong_ci(y, s)
    assert table.iloc[0]["auc_se"] == pytest.approx(overall.standard_error, abs=1e-12)


def test_delong_difference_uses_shared_negatives():
    y, s, drain = drain_data()
    table = stratified_auc(y, s, {"drain": drain}, ci="delong", correction=None, test="wald")
    row = table.iloc[1]
    a_pos, b_pos, neg = np.flatnonzero(drain), np.flatnonzero(y & ~drain), np.flatnonzero(~y)
    var = brute_force_difference_variance(s, a_pos, b_pos, neg)
    diff = roc_auc_score(
        np.r_[np.ones(len(a_pos)), np.zeros(len(neg))], np.r_[s[a_pos], s[neg]]
    ) - (roc_auc_score(np.r_[np.ones(len(b_pos)), np.zeros(len(neg))], np.r_[s[b_pos], s[neg]]))
    assert row["auc_diff"] == pytest.approx(diff, abs=1e-12)
    z = diff / np.sqrt(var)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    half = stats.norm.ppf(0.975) * np.sqrt(var)
    assert row["diff_low"] == pytest.approx(diff - half, abs=1e-12)


def test_delong_reference_overall_covariance_by_brute_force():
    y, s, drain = drain_data(seed=3)
    table = stratified_auc(y, s, {"drain": drain}, ci="delong", reference="overall", test="wald")
    row = table.iloc[1]
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    k = psi(s[pos], s[neg])
    in_s = drain[pos]
    theta_s, theta_o = k[in_s].mean(), k.mean()
    # structural components of each AUC
    v10_s, v10_o = k[in_s].mean(axis=1), k.mean(axis=1)
    v01_s, v01_o = k[in_s].mean(axis=0), k.mean(axis=0)
    m_s, m, n = in_s.sum(), len(pos), len(neg)
    var_s = v10_s.var(ddof=1) / m_s + v01_s.var(ddof=1) / n
    var_o = v10_o.var(ddof=1) / m + v01_o.var(ddof=1) / n
    # positives shared: the stratum's positives (centred on each AUC's own mean)
    cov_pos = np.sum((v10_s - theta_s) * (v10_o[in_s] - theta_o)) / (m_s * m) * m_s / (m_s - 1)
    cov_neg = np.sum((v01_s - theta_s) * (v01_o - theta_o)) / (n - 1) / n
    var_diff = var_s + var_o - 2 * (cov_pos + cov_neg)
    assert row["reference"] == "overall"
    assert row["auc_diff"] == pytest.approx(theta_s - theta_o, abs=1e-12)
    z = (theta_s - theta_o) / np.sqrt(var_diff)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)


def test_bootstrap_rows_equal_a_slow_loop_on_the_same_resamples():
    y, s, drain = drain_data(n_pos=80, n_neg=120, seed=5)
    site = np.random.default_rng(9).random(len(y)) < 0.5
    strata = {"drain": drain, "site": site}
    n_resamples = 60
    table = stratified_auc(
        y, s, strata, n_resamples=n_resamples, random_state=11, correction=None, test="wald"
    )
    resampler = Resampler(
        y, s, n_resamples, np.random.default_rng(11), cells=resampling_cells(y, None, True)
    )
    subsets = {
        "overall": np.ones(len(y), bool),
        "drain": drain | ~y,
        "drain_complement": (y & ~drain) | ~y,
        "site": site,
        "site_complement": ~site,
    }
    reps = {k: [] for k in subsets}
    for r in range(n_resamples):
        idx = sample_draws(resampler, r)
        for k, members in subsets.items():
            j = idx[members[idx]]
            reps[k].append(roc_auc_score(y[j], s[j]))
    reps = {k: np.array(v) for k, v in reps.items()}
    assert table.iloc[0]["auc_se"] == pytest.approx(reps["overall"].std(ddof=1), abs=1e-12)
    for name, row in table.iloc[1:].set_index("stratum").iterrows():
        own, comp = reps[name], reps[f"{name}_complement"]
        assert row["auc_se"] == pytest.approx(own.std(ddof=1), abs=1e-12)
        low, high = np.quantile(own, [0.025, 0.975])
        assert row["auc_low"] == pytest.approx(low, abs=1e-12)
        assert row["auc_high"] == pytest.approx(high, abs=1e-12)
        diff = own - comp
        z = row["auc_diff"] / diff.std(ddof=1)
        assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
        d_low, d_high = np.quantile(diff, [0.025, 0.975])
        assert row["diff_low"] == pytest.approx(d_low, abs=1e-12)
        assert row["diff_high"] == pytest.approx(d_high, abs=1e-12)


def test_overall_row_equals_bootstrap_ci_with_the_same_seed():
    y, s, drain = drain_data()
    table = stratified_auc(y, s, {"drain": drain}, n_resamples=300, random_state=4, method="bca")
    ref = bootstrap_ci(y, s, n_resamples=300, random_state=4, method="bca")
    assert table.iloc[0]["auc_low"] == ref.ci_low
    assert table.iloc[0]["auc_high"] == ref.ci_high


def test_grouped_bootstrap_rows_equal_a_slow_loop():
    y, s, drain = drain_data(n_pos=30, n_neg=50, seed=8)
    groups = np.random.default_rng(2).integers(0, 35, len(y))
    table = stratified_auc(y, s, {"drain": drain}, groups=groups, n_resamples=40, random_state=1)
    codes = pd.factorize(groups)[0]
    resampler = Resampler(
        y, s, 40, np.random.default_rng(1), cells=resampling_cells(y, codes, True), groups=codes
    )
    members = drain | ~y
    reps = []
    for r in range(40):
        idx = sample_draws(resampler, r)
        j = idx[members[idx]]
        reps.append(roc_auc_score(y[j], s[j]) if y[j].any() and (~y[j]).any() else np.nan)
    reps = np.array(reps)
    assert table.iloc[1]["auc_se"] == pytest.approx(np.nanstd(reps, ddof=1), abs=1e-12)


def test_same_seed_same_table_any_chunk_size(monkeypatch):
    y, s, drain = drain_data()
    a = stratified_auc(y, s, {"drain": drain}, n_resamples=200, random_state=7, method="bca")
    monkeypatch.setattr(bootstrap_module, "CHUNK_ELEMENTS", 1000)
    b = stratified_auc(y, s, {"drain": drain}, n_resamples=200, random_state=7, method="bca")
    pd.testing.assert_frame_equal(a, b)
    c = stratified_auc(y, s, {"drain": drain}, n_resamples=200, random_state=8, method="bca")
    assert not a["auc_low"].equals(c["auc_low"])


def test_invariant_to_sample_order_without_ties():
    y, s, drain = drain_data(seed=2)
    perm = np.random.default_rng(0).permutation(len(y))
    for ci in ("delong", "bootstrap"):
        a = stratified_auc(y, s, {"drain": drain}, ci=ci, n_resamples=200, random_state=3)
        b = stratified_auc(
            y[perm], s[perm], {"drain": drain[perm]}, ci=ci, n_resamples=200, random_state=3
        )
        pd.testing.assert_frame_equal(a, b, rtol=1e-12)


def test_invariant_to_monotone_transform():
    y, s, drain = drain_data(seed=2)
    a = stratified_auc(y, s, {"drain": drain}, n_resamples=200, random_state=3)
    b = stratified_auc(y, np.exp(s) * 3 + 1, {"drain": drain}, n_resamples=200, random_state=3)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("correction", ["holm", "fdr_bh"])
def test_correction_matches_statsmodels(correction):
    y, s, _ = drain_data(n_pos=200, n_neg=300)
    labels = pd.Series(np.random.default_rng(1).choice(list("abcd"), len(y)), name="site")
    table = stratified_auc(y, s, labels, ci="delong", correction=correction, random_state=0)
    p = table["p_value"].to_numpy()[1:]
    assert np.allclose(table["p_adjusted"].to_numpy()[1:], multipletests(p, method=correction)[1])
    none = stratified_auc(y, s, labels, ci="delong", correction=None, random_state=0)
    assert np.allclose(none["p_adjusted"].to_numpy()[1:], p)


def test_undefined_stratum_keeps_its_row():
    y, s, _ = drain_data()
    empty = np.zeros(len(y), bool)
    with pytest.warns(UndefinedMetricWarning, match="empty"):
        table = stratified_auc(y, s, {"empty": empty}, ci="delong")
    row = table.set_index("stratum").loc["empty"]
    assert not row["defined"]
    assert np.isnan(row["auc"])
    assert "no cases" in row["note"]


def test_stratum_with_one_class_in_population_all():
    y, s, _ = drain_data()
    one_class = Stratum(y.copy(), "all", name="positives only")
    with pytest.warns(UndefinedMetricWarning):
        table = stratified_auc(y, s, [one_class], ci="delong")
    assert "no negative cases" in table.iloc[1]["note"]
    assert table.iloc[1]["defined"] == False  # noqa: E712


def test_small_stratum_warns_and_notes():
    y, s, _ = drain_data()
    tiny = np.zeros(len(y), bool)
    tiny[:3] = True
    with pytest.warns(SmallStratumWarning, match="tiny"):
        table = stratified_auc(y, s, {"tiny": tiny}, ci="delong")
    assert "unreliable" in table.iloc[1]["note"]


def test_complement_empty_gives_no_test():
    y, s, _ = drain_data()
    table = stratified_auc(y, s, {"all positives": Stratum(y.copy(), "positives")}, ci="delong")
    row = table.iloc[1]
    assert row["defined"]
    assert np.isnan(row["p_value"])
    assert "no test" in row["note"]


def test_labels_frame_counts_unlabelled():
    y, s, drain = drain_data()
    labels = pd.Series(np.where(y, np.where(drain, "yes", "no"), None), name="drain")
    labels.iloc[:5] = None  # five positives not labelled
    table = stratified_auc(y, s, labels, ci="delong")
    rows = table.set_index("stratum")
    assert rows.loc["drain=yes", "n_unlabelled"] == len(y) - labels.notna().sum()
    assert rows.loc["drain=yes", "population"] == "positives"
    # complement is among labelled positives only
    yes = (labels == "yes").to_numpy()
    no = (labels == "no").to_numpy()
    comp = delong_ci(np.r_[np.ones(no.sum()), np.zeros((~y).sum())], np.r_[s[no], s[~y]])
    assert rows.loc["drain=yes", "reference_auc"] == pytest.approx(comp.estimate)
    assert rows.loc["drain=yes", "n_pos"] == yes.sum()


def test_bad_options():
    y, s, drain = drain_data()
    with pytest.raises(ValueError, match="ci must be one of"):
        stratified_auc(y, s, {"d": drain}, ci="wald")
    with pytest.raises(ValueError, match="Did you mean 'complement'"):
        stratified_auc(y, s, {"d": drain}, reference="complment")
    with pytest.raises(ValueError, match="correction"):
        stratified_auc(y, s, {"d": drain}, correction="bonferroni")
    with pytest.raises(ValueError, match="both classes"):
        stratified_auc(np.ones(5, bool), np.arange(5.0), {})


def _null_p_values(ci, n_sim, reference, naive=None):
    rng = np.random.default_rng(2024)
    p = []
    for _ in range(n_sim):
        y = np.r_[np.ones(60, bool), np.zeros(140, bool)]
        s = rng.normal(size=200) + 1.0 * y  # the subclass changes nothing: the null holds
        sub = np.zeros(200, bool)  # 24 of the 60 positives: above the small-stratum size
        sub[rng.choice(60, 24, replace=False)] = True
        table = stratified_auc(
            y,
            s,
            {"sub": sub},
            ci=ci,
            reference=reference,
            n_resamples=400,
            random_state=int(rng.integers(2**31)),
            correction=None,
        )
        p.append(table.iloc[1]["p_value"])
        if naive is not None:  # the test that ignores the correlation
            se = np.hypot(table.iloc[1]["auc_se"], table.iloc[0]["auc_se"])
            naive.append(2 * stats.norm.sf(abs(table.iloc[1]["auc_diff"]) / se))
    return np.array(p)


@pytest.mark.slow
@pytest.mark.parametrize("ci", ["delong", "bootstrap"])
@pytest.mark.parametrize("reference", ["complement", "overall"])
def test_type_one_error_is_nominal(ci, reference):
    """Under the null, tests of correlated AUCs (shared negatives, nested sets) reject
    about 5% of the time at alpha = 0.05. With 1000 simulations the standard error of
    the rate is 0.7 points; an independent-samples test would be far off for
    reference='overall' (the stratum is part of the overall AUC)."""
    naive = []
    p = _null_p_values(ci, 1000, reference, naive)
    rate = np.mean(p < 0.05)
    assert 0.03 <= rate <= 0.07, rate
    assert stats.kstest(p, "uniform").pvalue > 0.001
    if reference == "overall":
        # Ignoring that the stratum is part of the overall AUC wrecks the test.
        assert np.mean(np.array(naive) < 0.05) < 0.01


def test_few_clusters_get_a_note_and_a_warning_many_do_not():
    rng = np.random.default_rng(3)
    g = np.r_[np.repeat(np.arange(8), 25), 8 + np.arange(400) // 4]  # 8 big patients, 100 small
    n = len(g)
    y = rng.random(n) < 0.4
    s = rng.normal(size=n) + y
    few = g < 8  # 200 images, but only 8 patients
    with pytest.warns(SmallStratumWarning, match=r"fewer than 12 clusters \(groups\)"):
        t = stratified_auc(y, s, {"few": few, "many": g < 60}, groups=g, ci="delong")
    notes = dict(zip(t["stratum"], t["note"], strict=True))
    assert "lie in only" in notes["few"]
    assert "groups" not in notes["many"]
    assert "groups" not in notes["overall"]


def test_zero_width_bootstrap_difference_gives_no_p_value():
    """One cluster per stratum: resampling clusters cannot move either AUC, so the
    difference has no spread; a p-value from it would be meaningless (p ~ 1e-30)."""
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(30, bool), np.zeros(30, bool), np.ones(30, bool), np.zeros(30, bool)]
    s = np.r_[rng.normal(3, 0.1, 30), rng.normal(0, 0.1, 30), rng.normal(0.8, 1, 60)]
    g = np.repeat([0, 1], 60)
    with pytest.warns(SmallStratumWarning):
        t = stratified_auc(y, s, {"A": g == 0}, groups=g, n_resamples=200, random_state=0)
    row = t.iloc[1]
    assert np.isnan(row["p_value"])
    assert "does not vary between resamples" in row["note"]
    assert "zero-width interval" in row["note"]


@pytest.mark.parametrize("correction", ["holm", "fdr_bh"])
def test_adjusted_p_values_equal_statsmodels_with_ties_and_nan(correction):
    from hstrat.metrics._stratified import adjust_p_values

    rng = np.random.default_rng(5)
    for m in (1, 2, 7, 40):
        p = rng.random(m) ** 3
        p[: m // 3] = p[0]  # ties
        with_nan = np.r_[p, np.nan]
        got = adjust_p_values(with_nan, correction)
        assert np.isnan(got[-1])
        np.testing.assert_allclose(got[:-1], multipletests(p, method=correction)[1], rtol=1e-12)
