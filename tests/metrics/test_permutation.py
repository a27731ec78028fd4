"""The permutation test of a stratum against its reference (``test=`` of stratified_auc).

References: exact enumeration of every relabelling (small data), an independent loop over
numpy permutations with the AUC counted pair by pair, and the size under the null by simulation.
"""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from hstrat.metrics import stratified_auc
from hstrat.metrics._bootstrap import Subset
from hstrat.metrics._permutation import Comparison, permutation_p_values
from hstrat.metrics._stratified import verdicts


def pair_auc(s, pos, neg):
    """The AUC by counting every (positive, negative) pair: ties count half."""
    diff = s[pos][:, None] - s[neg][None, :]
    return float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))


def exact_p(s, stratum, rest, reference=None):
    """Share of all relabellings (within each permuted class) at least as extreme."""
    pools, sizes = [], []
    for own, other in ((stratum.pos, rest.pos), (stratum.neg, rest.neg)):
        shared = np.array_equal(own, other)
        pools.append(None if shared else np.r_[own, other])
        sizes.append(len(own))

    ref_auc = None if reference is None else pair_auc(s, reference.pos, reference.neg)

    def statistic(pos, neg, rest_pos, rest_neg):
        ref = pair_auc(s, rest_pos, rest_neg) if ref_auc is None else ref_auc
        return abs(pair_auc(s, pos, neg) - ref)

    observed = statistic(stratum.pos, stratum.neg, rest.pos, rest.neg)
    choices = [
        [(own, other)]
        if pool is None
        else [(np.array(c), np.setdiff1d(pool, c)) for c in itertools.combinations(pool, size)]
        for pool, size, own, other in zip(
            pools, sizes, (stratum.pos, stratum.neg), (rest.pos, rest.neg), strict=True
        )
    ]
    hits = [statistic(p[0], n[0], p[1], n[1]) for p, n in itertools.product(*choices)]
    return np.mean(np.array(hits) >= observed - 1e-12)


def small_data(seed):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(7, bool), np.zeros(6, bool)]
    s = np.round(rng.normal(size=13) + y, 1)  # rounded: ties inside and across classes
    return y, s, np.flatnonzero(y), np.flatnonzero(~y)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["positives", "negatives", "all", "overall"])
def test_monte_carlo_p_value_matches_exact_enumeration(seed, kind):
    _, s, pos, neg = small_data(seed)
    if kind == "negatives":
        stratum, rest = Subset(pos, neg[:3]), Subset(pos, neg[3:])
    elif kind == "all":
        stratum, rest = Subset(pos[:3], neg[:2]), Subset(pos[3:], neg[2:])
    else:
        stratum, rest = Subset(pos[:3], neg), Subset(pos[3:], neg)
    reference = Subset(pos, neg) if kind == "overall" else rest
    exact = exact_p(s, stratum, rest, None if kind != "overall" else reference)
    b = 5_000
    p = permutation_p_values(
        s, [Comparison(stratum, rest, reference)], b, np.random.default_rng(seed)
    )
    # (1 + hits) / (1 + B) estimates the exact p within binomial error
    assert p[0] == pytest.approx(exact, abs=5 * np.sqrt(exact * (1 - exact) / b) + 2 / b)


def test_matches_a_plain_loop_over_numpy_permutations():
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(40, bool), np.zeros(60, bool)]
    s = rng.normal(size=100) + 1.5 * y
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    observed = abs(pair_auc(s, pos[:12], neg) - pair_auc(s, pos[12:], neg))
    b, g = 4000, np.random.default_rng(5)
    hits = 0
    for _ in range(b):
        shuffled = g.permutation(pos)
        stat = abs(pair_auc(s, shuffled[:12], neg) - pair_auc(s, shuffled[12:], neg))
        hits += stat >= observed - 1e-12
    loop = (1 + hits) / (1 + b)
    c = Comparison(Subset(pos[:12], neg), Subset(pos[12:], neg), Subset(pos[12:], neg))
    ours = permutation_p_values(s, [c], b, np.random.default_rng(1))[0]
    assert ours == pytest.approx(loop, abs=5 * np.sqrt(loop * (1 - loop) / b) * np.sqrt(2))


def drain_table(**kw):
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(60, bool), np.zeros(140, bool)]
    drain = np.r_[rng.random(60) < 0.7, np.zeros(140, bool)]
    site = rng.random(200) < 0.3
    s = rng.normal(size=200) + 0.5 * y + 1.5 * drain
    strata = {"no drain": y & ~drain, "site": site}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 18 positives without a drain: a small stratum
        return y, s, strata, stratified_auc(y, s, strata, **kw)


def test_auto_permutes_small_strata_and_reports_which_test():
    *_, table = drain_table(ci="delong", random_state=0, n_resamples=500)
    assert table["test"].tolist()[1:] == ["permutation", "permutation"]
    assert np.isnan(table.loc[0, "p_value"])
    assert pd.isna(table.loc[0, "test"])
    # (1 + hits) / (B + 1): a whole number of 501sts, small for the drain effect
    hits = table.loc[1, "p_value"] * 501 - 1
    assert hits == pytest.approx(round(hits))
    assert 0 <= round(hits) < 10
    wald = drain_table(ci="delong", test="wald")[-1]
    assert wald["test"].tolist()[1:] == ["wald", "wald"]
    assert (wald["auc_low"] == table["auc_low"]).all()  # intervals do not depend on the test


def test_same_seed_same_p_values_whatever_the_order_threads_and_ci():
    y, s, strata, a = drain_table(random_state=4, n_resamples=300, n_jobs=1)
    perm = np.random.default_rng(0).permutation(len(y))
    shuffled = {k: v[perm] for k, v in strata.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = stratified_auc(y[perm], s[perm], shuffled, random_state=4, n_resamples=300, n_jobs=2)
        # the bootstrap draws first, so its intervals are those of test="wald"
        c = stratified_auc(y, s, strata, random_state=4, n_resamples=300, test="wald")
    pd.testing.assert_frame_equal(a, b)
    assert (c["auc_low"] == a["auc_low"]).all()


def test_large_strata_keep_the_wald_test_unless_asked():
    rng = np.random.default_rng(1)
    y = rng.random(2000) < 0.5
    s = rng.normal(size=2000) + y
    half = rng.random(2000) < 0.5
    auto = stratified_auc(y, s, {"half": half}, ci="delong", random_state=0)
    assert auto.loc[1, "test"] == "wald"
    forced = stratified_auc(y, s, {"half": half}, ci="delong", random_state=0, test="permutation")
    assert forced.loc[1, "test"] == "permutation"
    assert forced.loc[1, "p_value"] == pytest.approx(auto.loc[1, "p_value"], abs=0.05)


@pytest.mark.filterwarnings("ignore::hstrat.exceptions.SmallStratumWarning")
def test_groups_keep_wald_and_refuse_an_explicit_permutation():
    y, s, strata, _ = drain_table(ci="delong")
    patient = np.arange(200) // 2
    table = stratified_auc(y, s, strata, ci="delong", groups=patient)
    assert set(table["test"].dropna()) == {"wald"}
    with pytest.raises(ValueError, match="test='permutation' cannot be used with groups"):
        stratified_auc(y, s, strata, ci="delong", groups=patient, test="permutation")
    with pytest.raises(ValueError, match="test"):
        stratified_auc(y, s, strata, test="exact")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["positives", "all"])
def test_size_holds_where_the_wald_test_is_liberal(kind):
    """20 positives at AUC 0.9: DeLong rejects 10% at 0.05; the permutation test 5%."""
    rng = np.random.default_rng(11)
    p_perm, p_wald = [], []
    for _ in range(600):
        y = np.r_[np.ones(200, bool), np.zeros(500, bool)]
        s = rng.normal(size=700) + 1.8 * y
        stratum = np.zeros(700, bool)
        stratum[:20] = True
        if kind == "all":
            stratum[200:250] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for test, out in (("permutation", p_perm), ("wald", p_wald)):
                t = stratified_auc(
                    y, s, {"c": stratum}, ci="delong", test=test, correction=None,
                    n_resamples=400, random_state=int(rng.integers(2**31)),
                )  # fmt: skip
                out.append(t.loc[1, "p_value"])
    size = np.mean(np.array(p_perm) <= 0.05)
    # 600 null data sets: the binomial sd at 0.05 is 0.009
    assert abs(size - 0.05) < 0.027
    if kind == "positives":
        assert np.mean(np.array(p_wald) < 0.05) > size + 0.02


@pytest.mark.filterwarnings("ignore::hstrat.exceptions.SmallStratumWarning")
def test_small_strata_get_a_verdict_only_from_the_exact_test():
    rng = np.random.default_rng(2)
    y = np.r_[np.ones(100, bool), np.zeros(200, bool)]
    rare = np.zeros(300, bool)
    rare[:12] = True  # 12 positives the model misses
    s = rng.normal(size=300) + 2.0 * (y & ~rare)
    table = stratified_auc(y, s, {"rare": rare}, random_state=0, n_resamples=500)
    assert "interval unreliable" in table.loc[1, "note"]
    assert verdicts(table, 0.05)[1] == "worse"
    wald = stratified_auc(y, s, {"rare": rare}, random_state=0, n_resamples=500, test="wald")
    assert verdicts(wald, 0.05)[1] == "too few cases to test"
