"""The bootstrap engine against slow reference loops, scipy, theory and R's pROC.

The reference loops rebuild the private resampler exactly as ``bootstrap_ci`` does and
recompute every replicate with :func:`sklearn.metrics.roc_auc_score` on the very same
resampled case indices, so the vectorized counting engine is checked replicate by
replicate; intervals are then recomputed from the distribution with numpy / scipy.
"""

from __future__ import annotations

import json
import math
import re
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from resampling import sample_draws
from scipy import special
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from hstrat._validation import check_groups, check_random_state
from hstrat.exceptions import UndefinedMetricWarning
from hstrat.metrics import _bootstrap as bootstrap_module
from hstrat.metrics import bootstrap_ci, delong_ci, stratified_auc
from hstrat.metrics._bootstrap import (
    Resampler,
    Subset,
    SubsetPlan,
    bootstrap_aucs,
    jackknife_aucs,
    resampling_cells,
)
from hstrat.metrics._counting import count_draws, counting_kernel


@pytest.fixture(autouse=True)
def threads_at_any_size(monkeypatch):
    """Small test data take the threaded path too (in use it starts at THREADS_FROM cases)."""
    monkeypatch.setattr(bootstrap_module, "THREADS_FROM", 0)


def test_small_data_run_on_one_thread_whatever_n_jobs(monkeypatch):
    monkeypatch.undo()
    seen = []
    real = bootstrap_module.parallel_map
    monkeypatch.setattr(
        bootstrap_module, "parallel_map", lambda *a, **k: seen.append(k["n_jobs"]) or real(*a, **k)
    )
    rng = np.random.default_rng(0)
    for n in (1000, bootstrap_module.THREADS_FROM):
        y = rng.random(n) < 0.3
        bootstrap_ci(y, rng.normal(size=n) + y, n_resamples=20, random_state=0, n_jobs=2)
    assert seen == [1, 2]


REFERENCE = json.loads(
    (Path(__file__).parents[1] / "reference" / "proc_reference.json").read_text()
)
PROC_BOOT = {d["name"]: d for d in REFERENCE["single"] if d["ci_bootstrap_95"] is not None}


# --------------------------------------------------------------------------- helpers


def tied_data(seed, n_pos=30, n_neg=45, levels=8):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)])
    s = (rng.integers(0, levels, size=len(y)) + 2 * y * rng.random(len(y))).round(1)
    return y, s


def clustered_data(seed, n_groups=40):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, size=n_groups)
    codes = np.repeat(np.arange(n_groups), sizes)
    prevalence = rng.uniform(0.0, 0.8, size=n_groups)[codes]
    y = (rng.random(len(codes)) < prevalence).astype(int)
    y[:2] = [0, 1]  # both classes, whatever the seed
    s = np.round(rng.normal(size=n_groups)[codes] + rng.normal(size=len(codes)) + y, 1)
    names = np.array([f"patient-{i}" for i in rng.permutation(n_groups)])[codes]
    perm = rng.permutation(len(codes))
    return y[perm], s[perm], names[perm]


def build_resampler(y, s, n_resamples, random_state, *, stratify=True, groups=None):
    """The resampler exactly as ``bootstrap_ci`` builds it."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=float)
    g = None if groups is None else check_groups(groups, len(y))
    cells = resampling_cells(y, g, stratify)
    rng = check_random_state(random_state)
    return Resampler(y, s, n_resamples, rng, cells=cells, groups=g)


def sklearn_auc_or_nan(y, s):
    return roc_auc_score(y, s) if 0 < np.sum(y) < len(y) else math.nan


def reference_distribution(y, s, resampler, subset_mask=None):
    """AUC of every replicate by scikit-learn on the resampled case indices."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    out = []
    for r in range(resampler.n_resamples):
        idx = sample_draws(resampler, r)
        if subset_mask is not None:
            idx = idx[subset_mask[idx]]
        out.append(sklearn_auc_or_nan(y[idx], s[idx]))
    return np.array(out)


def brute_force_jackknife(y, s, units):
    """Leave-one-unit-out AUCs with scikit-learn, one per distinct unit (sorted)."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    return np.array([sklearn_auc_or_nan(y[units != u], s[units != u]) for u in np.unique(units)])


def exact_auc(y, s):
    """The AUC as a correctly rounded ratio of integers (2U / 2mn), by brute force.

    Replicates tied with the estimate count one half in z0, so the estimate must be
    the same double a replicate with the same Mann-Whitney count gets; sklearn's
    trapezoidal sum can differ from it in the last bit.
    """
    pos = [v for v, t in zip(s, y, strict=True) if t]
    neg = [v for v, t in zip(s, y, strict=True) if not t]
    twice_u = sum(2 if p > q else 1 if p == q else 0 for p in pos for q in neg)
    return twice_u / (2 * len(pos) * len(neg))


def bca_reference(estimate, distribution, jackknife, cells, level):
    """BCa (Efron 1987) with scipy's conventions: mid-rank z0, multi-sample acceleration."""
    dist = distribution[np.isfinite(distribution)]
    z0 = special.ndtri((np.sum(dist < estimate) + np.sum(dist <= estimate)) / (2 * len(dist)))
    num = den = 0.0
    for c in np.unique(cells):
        values = jackknife[(cells == c) & np.isfinite(jackknife)]
        k = len(values)
        u = (k - 1) * (values.mean() - values)
        num += np.sum(u**3) / k**3
        den += np.sum(u**2) / k**2
    a = num / (6 * den**1.5)
    z = special.ndtri([(1 - level) / 2, (1 + level) / 2])
    levels = special.ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
    return np.quantile(dist, levels)


def pairwise_auc(pos, neg, axis=-1):
    """Vectorized AUC statistic for scipy.stats.bootstrap (samples along the last axis)."""
    p = np.asarray(pos)[..., :, None]
    q = np.asarray(neg)[..., None, :]
    wins = (p > q).sum(axis=(-1, -2)) + 0.5 * (p == q).sum(axis=(-1, -2))
    return wins / (p.shape[-2] * q.shape[-1])


# --------------------------------------------------------------------------- engine


@pytest.mark.parametrize("stratify", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_distribution_equals_sklearn_loop_on_same_resamples(stratify, seed):
    y, s = tied_data(seed, n_pos=12, n_neg=30)
    n_resamples = 250
    res = bootstrap_ci(y, s, n_resamples=n_resamples, stratify=stratify, random_state=seed)
    resampler = build_resampler(y, s, n_resamples, seed, stratify=stratify)
    expected = reference_distribution(y, s, resampler)
    assert np.isfinite(expected).all()  # 12 positives: no one-class resample at this seed
    np.testing.assert_allclose(res.bootstrap_distribution, expected, rtol=0, atol=1e-12)
    assert res.estimate == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert res.standard_error == pytest.approx(np.std(expected, ddof=1), rel=1e-10)


@pytest.mark.parametrize("stratify", [True, False])
def test_grouped_distribution_equals_sklearn_loop(stratify):
    y, s, groups = clustered_data(3)
    n_resamples = 200
    res = bootstrap_ci(
        y, s, n_resamples=n_resamples, groups=groups, stratify=stratify, random_state=9
    )
    resampler = build_resampler(y, s, n_resamples, 9, stratify=stratify, groups=groups)
    expected = reference_distribution(y, s, resampler)
    np.testing.assert_allclose(res.bootstrap_distribution, expected, rtol=0, atol=1e-12)


def test_many_subsets_sharing_negatives_equal_sklearn_loop():
    rng = np.random.default_rng(4)
    y, s = tied_data(4, n_pos=40, n_neg=60)
    pos, neg = np.flatnonzero(y), np.flatnonzero(y == 0)
    stratum = rng.random(len(y)) < 0.5
    masks = {
        "overall": np.ones(len(y), bool),
        "positives-a": (y == 0) | stratum,  # a subclass of positives vs all negatives
        "positives-b": (y == 0) | ~stratum,
        "negatives-a": (y == 1) | stratum,  # all positives vs a subclass of negatives
        "all-a": stratum,  # positives and negatives inside the stratum
    }
    subsets = [
        Subset(np.intersect1d(pos, np.flatnonzero(m)), np.intersect1d(neg, np.flatnonzero(m)))
        for m in masks.values()
    ]
    resampler = build_resampler(y, s, 120, 12, stratify=False)
    # positives-b is overall less positives-a: its sums are taken as that difference.
    plan = SubsetPlan(s.astype(float), subsets, resampler.order)
    assert [g.differences for g in plan._groups.values() if g.differences] == [[(2, 0, 1)]]
    with np.errstate(all="ignore"):
        got = bootstrap_aucs(s.astype(float), subsets, resampler, plan=plan)
    for k, mask in enumerate(masks.values()):
        expected = reference_distribution(y, s, resampler, subset_mask=mask)
        np.testing.assert_allclose(got[:, k], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("groups", [None, "clusters"])
def test_identical_for_any_chunk_size(groups):
    y, s, g = clustered_data(5)
    n_resamples = 97
    resampler = build_resampler(y, s, n_resamples, 2, groups=None if groups is None else g)
    subsets = [Subset(np.flatnonzero(y == 1), np.flatnonzero(y == 0))]
    reference = bootstrap_aucs(s, subsets, resampler)
    for chunk_size in (1, 2, 7, 32, 96, 97, 1000):
        got = bootstrap_aucs(s, subsets, resampler, chunk_size=chunk_size)
        np.testing.assert_array_equal(got, reference)


@pytest.mark.parametrize("elements", [1, 100, 5000])
def test_bootstrap_ci_identical_for_any_working_memory(monkeypatch, elements):
    # The default chunk size comes from CHUNK_ELEMENTS; shrinking it changes the number
    # of chunks, never the result.
    y, s, g = clustered_data(6)
    kwargs = {"n_resamples": 150, "random_state": 4, "method": "bca"}
    reference = bootstrap_ci(y, s, groups=g, **kwargs)
    monkeypatch.setattr(bootstrap_module, "CHUNK_ELEMENTS", elements)
    got = bootstrap_ci(y, s, groups=g, **kwargs)
    np.testing.assert_array_equal(got.bootstrap_distribution, reference.bootstrap_distribution)
    assert (got.ci_low, got.ci_high) == (reference.ci_low, reference.ci_high)


def test_progress_reports_every_replicate():
    y, s = tied_data(0)
    resampler = build_resampler(y, s, 50, 0)
    done = []
    bootstrap_aucs(
        s.astype(float),
        [Subset(np.flatnonzero(y), np.flatnonzero(y == 0))],
        resampler,
        chunk_size=8,
        progress=done.append,
    )
    assert done == [8] * 6 + [2]


def test_deterministic_given_random_state_and_different_across_seeds():
    y, s = tied_data(1)
    a = bootstrap_ci(y, s, n_resamples=200, random_state=123)
    b = bootstrap_ci(y, s, n_resamples=200, random_state=123)
    c = bootstrap_ci(y, s, n_resamples=200, random_state=124)
    np.testing.assert_array_equal(a.bootstrap_distribution, b.bootstrap_distribution)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert not np.array_equal(a.bootstrap_distribution, c.bootstrap_distribution)


def test_more_resamples_extend_the_same_stream():
    # Replicate r draws from its own child stream, so the first 100 of 300 replicates
    # are the 100 replicates of a shorter run with the same seed.
    y, s = tied_data(2)
    short = bootstrap_ci(y, s, n_resamples=100, random_state=5).bootstrap_distribution
    long = bootstrap_ci(y, s, n_resamples=300, random_state=5).bootstrap_distribution
    np.testing.assert_array_equal(long[:100], short)


def test_random_state_accepts_generator_seedsequence_and_none():
    y, s = tied_data(3)
    g1 = bootstrap_ci(y, s, n_resamples=50, random_state=np.random.default_rng(8))
    g2 = bootstrap_ci(y, s, n_resamples=50, random_state=np.random.default_rng(8))
    np.testing.assert_array_equal(g1.bootstrap_distribution, g2.bootstrap_distribution)
    # A Generator is used as is and advanced: reusing it gives new resamples.
    gen = np.random.default_rng(8)
    first = bootstrap_ci(y, s, n_resamples=50, random_state=gen).bootstrap_distribution
    second = bootstrap_ci(y, s, n_resamples=50, random_state=gen).bootstrap_distribution
    assert not np.array_equal(first, second)
    seq = bootstrap_ci(y, s, n_resamples=50, random_state=np.random.SeedSequence(8))
    assert len(seq.bootstrap_distribution) == 50
    fresh = bootstrap_ci(y, s, n_resamples=50, random_state=None)
    assert np.isfinite(fresh.bootstrap_distribution).all()


# --------------------------------------------------------------------------- threads
# Every replicate draws from its own child stream and writes its own row, so neither
# the number of threads nor the chunk size may change a replicate, interval or table.

N_JOBS = [1, 2, 3, -1, None]


def tied_strata_data(seed=0, n=400):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.35
    s = np.round(rng.normal(size=n) + y, 1)  # many ties within and across classes
    strata = {"drain": y & (rng.random(n) < 0.5), "site": rng.random(n) < 0.4}
    return y, s, strata, rng.integers(0, n // 3, n)


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("stratify", [True, False])
def test_replicates_identical_for_every_n_jobs_and_chunk_size(grouped, stratify):
    y, s, g = clustered_data(7)
    resampler = build_resampler(y, s, 61, 3, stratify=stratify, groups=g if grouped else None)
    subsets = [
        Subset(np.flatnonzero(y == 1), np.flatnonzero(y == 0)),
        Subset(np.flatnonzero((y == 1) & (s > 0)), np.flatnonzero(y == 0)),
    ]
    with np.errstate(all="ignore"):
        reference = bootstrap_aucs(s, subsets, resampler)
        for n_jobs in N_JOBS:
            for chunk_size in (1, 4, 60, 61):
                got = bootstrap_aucs(s, subsets, resampler, chunk_size=chunk_size, n_jobs=n_jobs)
                np.testing.assert_array_equal(got, reference)


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("stratify", [True, False])
def test_bootstrap_ci_identical_for_every_n_jobs(monkeypatch, method, grouped, stratify):
    y, s, _, g = tied_strata_data(1)
    kwargs = {
        "n_resamples": 120,
        "random_state": 9,
        "method": method,
        "stratify": stratify,
        "groups": g if grouped else None,
    }
    reference = bootstrap_ci(y, s, n_jobs=1, **kwargs)
    # Small chunks: many of them, spread over the threads.
    monkeypatch.setattr(bootstrap_module, "CHUNK_ELEMENTS", 3000)
    for n_jobs in N_JOBS:
        got = bootstrap_ci(y, s, n_jobs=n_jobs, **kwargs)
        np.testing.assert_array_equal(got.bootstrap_distribution, reference.bootstrap_distribution)
        assert (got.ci_low, got.ci_high, got.standard_error) == (
            reference.ci_low,
            reference.ci_high,
            reference.standard_error,
        )


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("grouped", [False, True])
def test_stratified_table_identical_for_every_n_jobs(monkeypatch, method, grouped):
    y, s, strata, g = tied_strata_data(2)
    kwargs = {"n_resamples": 100, "random_state": 5, "method": method}
    kwargs["groups"] = g if grouped else None
    reference = stratified_auc(y, s, strata, n_jobs=1, **kwargs)
    monkeypatch.setattr(bootstrap_module, "CHUNK_ELEMENTS", 2000)
    for n_jobs in N_JOBS:
        pd.testing.assert_frame_equal(
            stratified_auc(y, s, strata, n_jobs=n_jobs, **kwargs), reference
        )


def test_progress_counts_every_replicate_with_threads():
    y, s, _ = clustered_data(8)
    resampler = build_resampler(y, s, 50, 0)
    done = []
    bootstrap_aucs(
        s,
        [Subset(np.flatnonzero(y), np.flatnonzero(y == 0))],
        resampler,
        chunk_size=8,
        progress=done.append,
        n_jobs=2,
    )
    assert done == [8] * 6 + [2]


@pytest.mark.parametrize(
    ("n_jobs", "error", "pattern"),
    [
        (0, ValueError, r"n_jobs must be None or a non-zero integer .*; got 0\."),
        (2.0, TypeError, r"n_jobs .*; got 2\.0 of type float"),
        (True, TypeError, r"n_jobs .*; got True of type bool"),
    ],
)
@pytest.mark.parametrize("ci", ["bootstrap", "delong"])
def test_bad_n_jobs_names_the_argument_and_value(n_jobs, error, pattern, ci):
    y, s, strata, _ = tied_strata_data(3, n=60)
    with pytest.raises(error, match=pattern):
        bootstrap_ci(y, s, n_resamples=10, n_jobs=n_jobs)
    with pytest.raises(error, match=pattern):
        stratified_auc(y, s, strata, ci=ci, n_resamples=10, n_jobs=n_jobs)


# --------------------------------------------------------------------------- resamples


def test_stratified_resamples_keep_class_counts():
    y, s = tied_data(6, n_pos=7, n_neg=19)
    resampler = build_resampler(y, s, 300, 1, stratify=True)
    for r in range(300):
        idx = sample_draws(resampler, r)
        assert len(idx) == len(y)
        assert y[idx].sum() == 7


def test_unstratified_resamples_vary_class_counts_and_are_uniform():
    y, s = tied_data(6, n_pos=7, n_neg=19)
    n_resamples = 3000
    resampler = build_resampler(y, s, n_resamples, 1, stratify=False)
    counts = np.array(
        [np.bincount(sample_draws(resampler, r), minlength=len(y)) for r in range(n_resamples)]
    )
    assert (counts.sum(axis=1) == len(y)).all()
    assert len(np.unique(counts @ y)) > 5  # positives per resample vary
    # Each case is drawn Binomial(n, 1/n) times: mean 1, variance (n-1)/n.
    mean = counts.mean(axis=0)
    se = math.sqrt((len(y) - 1) / len(y) / n_resamples)
    assert np.abs(mean - 1).max() < 4.5 * se


@given(
    st.integers(1, 300).flatmap(
        lambda n: st.tuples(st.just(n), st.lists(st.integers(0, n - 1), max_size=400))
    )
)
@settings(max_examples=60, deadline=None)
def test_compiled_count_equals_bincount(case):
    n, draws = case
    draws = np.asarray(draws, dtype=np.intp)
    for kernel in (counting_kernel(), None):
        out = np.full(n, -7, dtype=np.int64)  # stale contents must not survive
        got = count_draws(draws, out, kernel)
        assert got is out
        np.testing.assert_array_equal(got, np.bincount(draws, minlength=n))


def test_large_data_count_with_the_compiled_kernel_when_numba_is_installed(monkeypatch):
    pytest.importorskip("numba", exc_type=ImportError)  # missing, or broken
    monkeypatch.undo()  # the real THREADS_FROM
    n = bootstrap_module.THREADS_FROM
    y, s = np.arange(n) % 3 == 0, np.arange(float(n))
    assert build_resampler(y, s, 5, 0)._kernel is counting_kernel() is not None
    assert build_resampler(y[:1000], s[:1000], 5, 0)._kernel is None  # nothing to compile


def test_a_numba_that_cannot_compile_falls_back_to_numpy_with_a_warning(monkeypatch):
    numba = pytest.importorskip("numba", exc_type=ImportError)  # missing, or broken

    def broken(*args, **kwargs):
        raise RuntimeError("no LLVM target")

    monkeypatch.setattr(numba, "njit", broken)
    counting_kernel.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match=r"could not compile .*no LLVM target.* numpy"):
            assert counting_kernel() is None
    finally:
        counting_kernel.cache_clear()  # the next caller compiles the real one


@pytest.mark.parametrize("one_replicate_a_pass", [False, True])
@pytest.mark.parametrize("grouped", [False, True])
def test_bootstrap_identical_with_and_without_the_compiled_kernel(
    monkeypatch, grouped, one_replicate_a_pass
):
    y, s, strata, g = tied_strata_data(3)
    if one_replicate_a_pass:  # as with a million cases
        monkeypatch.setattr(bootstrap_module, "CHUNK_ELEMENTS", 100)
    kwargs = {"n_resamples": 150, "random_state": 4, "groups": g if grouped else None}

    def results():
        table = stratified_auc(y, s, strata, n_jobs=2, **kwargs)
        loose = bootstrap_ci(y, s, stratify=False, n_jobs=2, **kwargs)
        return table, loose.bootstrap_distribution

    compiled = results()
    monkeypatch.setattr(bootstrap_module, "counting_kernel", lambda: None)
    plain = results()
    pd.testing.assert_frame_equal(plain[0], compiled[0])
    np.testing.assert_array_equal(plain[1], compiled[1])


def test_internal_counts_match_sample_draws():
    y, s, groups = clustered_data(8)
    resampler = build_resampler(y, s, 40, 3, groups=groups)
    internal = resampler.counts(0, 40)
    by_case = np.empty_like(internal)
    by_case[:, resampler.order] = internal
    for r in range(40):
        np.testing.assert_array_equal(
            by_case[r], np.bincount(sample_draws(resampler, r), minlength=len(y))
        )


@pytest.mark.parametrize("stratify", [True, False])
def test_grouped_resampling_keeps_patients_together(stratify):
    y, s, groups = clustered_data(7)
    names = np.unique(groups)
    has_pos = np.array([y[groups == g].any() for g in names])
    resampler = build_resampler(y, s, 300, 4, stratify=stratify, groups=groups)
    drawn_with_pos = set()
    for r in range(300):
        counts = np.bincount(sample_draws(resampler, r), minlength=len(y))
        per_group = []
        for g in names:
            c = counts[groups == g]
            assert (c == c[0]).all(), "a drawn patient must come with all its cases"
            per_group.append(c[0])
        per_group = np.array(per_group)
        assert per_group.sum() == len(names)  # as many groups as there are
        drawn_with_pos.add(int(per_group @ has_pos))
        if stratify:
            assert per_group @ has_pos == has_pos.sum()
    if not stratify:
        assert len(drawn_with_pos) > 3


# --------------------------------------------------------------------------- intervals


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_percentile_and_basic_equal_numpy_quantiles(level):
    y, s = tied_data(9)
    alpha = (1 - level) / 2
    pct = bootstrap_ci(y, s, n_resamples=500, random_state=3, confidence_level=level)
    basic = bootstrap_ci(
        y, s, n_resamples=500, random_state=3, confidence_level=level, method="basic"
    )
    dist = pct.bootstrap_distribution
    lo, hi = np.quantile(dist, [alpha, 1 - alpha])
    assert (pct.ci_low, pct.ci_high) == pytest.approx((lo, hi), abs=1e-14)
    theta = roc_auc_score(y, s)
    assert (basic.ci_low, basic.ci_high) == pytest.approx(
        (2 * theta - hi, 2 * theta - lo), abs=1e-12
    )
    np.testing.assert_array_equal(basic.bootstrap_distribution, dist)
    assert (pct.method, basic.method) == ("bootstrap-percentile", "bootstrap-basic")


@pytest.mark.parametrize("method", ["percentile", "basic", "BCa"])
def test_intervals_equal_scipy_bootstrap_on_the_same_distribution(method):
    # scipy.stats.bootstrap with n_resamples=0 computes its interval from a given
    # bootstrap distribution; two samples (positives, negatives) = class-stratified.
    y, s = tied_data(10)
    ours = bootstrap_ci(y, s, n_resamples=1000, random_state=2, method=method.lower())
    result = sps.bootstrap(
        (s[y == 1], s[y == 0]),
        pairwise_auc,
        n_resamples=0,
        bootstrap_result=types.SimpleNamespace(bootstrap_distribution=ours.bootstrap_distribution),
        method=method,
        vectorized=True,
    )
    ci = result.confidence_interval
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_unstratified_bca_equals_scipy_paired_bootstrap():
    y, s = tied_data(11)
    ours = bootstrap_ci(y, s, n_resamples=1000, random_state=4, method="bca", stratify=False)
    result = sps.bootstrap(
        (y, s),
        roc_auc_score,
        paired=True,
        n_resamples=0,
        bootstrap_result=types.SimpleNamespace(bootstrap_distribution=ours.bootstrap_distribution),
        method="BCa",
        vectorized=False,
    )
    ci = result.confidence_interval
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_bca_equals_independent_computation():
    y, s = tied_data(12)
    ours = bootstrap_ci(y, s, n_resamples=1500, random_state=6, method="bca")
    jack = brute_force_jackknife(y, s, np.arange(len(y)))
    expected = bca_reference(exact_auc(y, s), ours.bootstrap_distribution, jack, y, 0.95)
    assert (ours.ci_low, ours.ci_high) == pytest.approx(tuple(expected), abs=1e-12)
    assert ours.method == "bootstrap-bca"


@pytest.mark.parametrize("stratify", [True, False])
def test_grouped_bca_equals_independent_computation(stratify):
    y, s, groups = clustered_data(13, n_groups=60)
    ours = bootstrap_ci(
        y, s, n_resamples=1000, random_state=6, method="bca", groups=groups, stratify=stratify
    )
    names = np.unique(groups)
    jack = brute_force_jackknife(y, s, groups)
    # With stratification, groups with a positive and groups without are separate cells.
    has_pos = np.array([y[groups == g].any() for g in names])
    cells = has_pos if stratify else np.zeros(len(names))
    expected = bca_reference(exact_auc(y, s), ours.bootstrap_distribution, jack, cells, 0.95)
    assert (ours.ci_low, ours.ci_high) == pytest.approx(tuple(expected), abs=1e-12)


def test_grouped_bca_equals_scipy_with_groups_as_samples():
    # Resampling groups with and without positives separately = scipy's two samples of
    # group ids, each jackknifed by leaving one group out.
    y, s, groups = clustered_data(14, n_groups=50)
    names = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in names}
    with_pos = np.array([g for g in names if y[members[g]].any()])
    without = np.array([g for g in names if not y[members[g]].any()])

    def statistic(a, b):
        idx = np.concatenate([members[g] for g in np.r_[a, b]])
        return roc_auc_score(y[idx], s[idx])

    ours = bootstrap_ci(y, s, n_resamples=1000, random_state=1, method="bca", groups=groups)
    result = sps.bootstrap(
        (with_pos, without),
        statistic,
        n_resamples=0,
        bootstrap_result=types.SimpleNamespace(bootstrap_distribution=ours.bootstrap_distribution),
        method="BCa",
        vectorized=False,
    )
    ci = result.confidence_interval
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_jackknife_equals_brute_force_leave_one_out():
    y, s = tied_data(15, n_pos=9, n_neg=14)
    subset = Subset(np.flatnonzero(y), np.flatnonzero(y == 0))
    got = jackknife_aucs(s.astype(float), subset, len(y))
    np.testing.assert_allclose(got, brute_force_jackknife(y, s, np.arange(len(y))), atol=1e-12)


def test_jackknife_of_a_stratum_keeps_unused_cases_at_the_full_value():
    y, s = tied_data(16, n_pos=12, n_neg=14)
    stratum = np.arange(len(y)) % 3 != 0
    subset = Subset(np.flatnonzero((y == 1) & stratum), np.flatnonzero(y == 0))
    in_subset = (y == 0) | stratum
    got = jackknife_aucs(s.astype(float), subset, len(y))
    full = roc_auc_score(y[in_subset], s[in_subset])
    for i in range(len(y)):
        keep = in_subset.copy()
        keep[i] = False
        expected = roc_auc_score(y[keep], s[keep]) if in_subset[i] else full
        assert got[i] == pytest.approx(expected, abs=1e-12)


def test_jackknife_equals_brute_force_leave_one_group_out():
    y, s, groups = clustered_data(17, n_groups=30)
    codes = check_groups(groups, len(y))
    subset = Subset(np.flatnonzero(y), np.flatnonzero(y == 0))
    got = jackknife_aucs(s, subset, len(y), codes)
    expected = np.array(
        [sklearn_auc_or_nan(y[codes != c], s[codes != c]) for c in range(codes.max() + 1)]
    )
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_jackknife_nan_when_a_class_disappears():
    y = np.array([1, 0, 0, 1])
    s = np.array([0.9, 0.1, 0.3, 0.2])
    got = jackknife_aucs(s, Subset(np.array([0, 3]), np.array([1, 2])), 4, np.array([0, 1, 1, 2]))
    assert math.isnan(got[1])  # group 1 holds every negative
    assert got[0] == pytest.approx(roc_auc_score(y[1:], s[1:]))


# --------------------------------------------------------------------------- pROC


def proc_mc_band(distribution, p, n_proc, width=4.0):
    """Range of a B-resample quantile estimate: the p-quantile of a B-sample lies, to first
    order, at quantile level p +- sqrt(p (1 - p) / B) of the bootstrap distribution."""
    half = width * math.sqrt(p * (1 - p) / n_proc)
    return np.quantile(distribution, [max(0.0, p - half), min(1.0, p + half)])


@pytest.mark.parametrize("name", list(PROC_BOOT))
def test_agrees_with_proc_stratified_bootstrap(name):
    d = PROC_BOOT[name]
    ref = d["ci_bootstrap_95"]
    assert ref["stratified"]
    assert ref["conf_level"] == 0.95
    ours = bootstrap_ci(d["y_true"], d["y_score"], n_resamples=20000, random_state=2024)
    dist = ours.bootstrap_distribution
    for p, value in ((0.025, ref["ci_low"]), (0.975, ref["ci_high"])):
        lo, hi = proc_mc_band(dist, p, ref["boot_n"])
        assert lo - 1e-12 <= value <= hi + 1e-12, (name, p, value, lo, hi)
    if d["n_pos"] + d["n_neg"] >= 100 or d["auc"] == 1:
        assert ours.ci_low == pytest.approx(ref["ci_low"], abs=0.01)
        assert ours.ci_high == pytest.approx(ref["ci_high"], abs=0.01)
    assert np.median(dist) == pytest.approx(ref["median"], abs=0.01)


def test_bootstrap_standard_error_close_to_delong():
    d = PROC_BOOT["continuous"]
    boot = bootstrap_ci(d["y_true"], d["y_score"], n_resamples=4000, random_state=0)
    assert boot.standard_error == pytest.approx(math.sqrt(d["var"]), rel=0.08)
    assert boot.estimate == delong_ci(d["y_true"], d["y_score"]).estimate


# --------------------------------------------------------------------------- undefined


def test_unstratified_tiny_data_warns_and_counts_nan_replicates():
    y = np.array([1, 0, 0, 0, 0, 0])
    s = np.array([0.7, 0.1, 0.9, 0.3, 0.2, 0.5])
    with pytest.warns(UndefinedMetricWarning, match="bootstrap resamples had no positive") as rec:
        res = bootstrap_ci(y, s, n_resamples=300, stratify=False, random_state=0)
    message = str(rec[0].message)
    reported = int(re.match(r"(\d+) of 300 bootstrap resamples", message).group(1))
    dist = res.bootstrap_distribution
    assert reported == np.isnan(dist).sum() > 0
    resampler = build_resampler(y, s, 300, 0, stratify=False)
    expected = reference_distribution(y, s, resampler)
    np.testing.assert_array_equal(np.isnan(dist), np.isnan(expected))
    np.testing.assert_allclose(dist[~np.isnan(dist)], expected[~np.isnan(expected)], atol=1e-12)
    finite = dist[np.isfinite(dist)]
    assert (res.ci_low, res.ci_high) == pytest.approx(tuple(np.quantile(finite, [0.025, 0.975])))
    assert res.standard_error == pytest.approx(np.std(finite, ddof=1))


def test_stratified_tiny_data_has_no_nan_replicates():
    y = np.array([1, 0, 0, 0, 0, 0])
    s = np.array([0.7, 0.1, 0.9, 0.3, 0.2, 0.5])
    res = bootstrap_ci(y, s, n_resamples=300, random_state=0)
    assert np.isfinite(res.bootstrap_distribution).all()


@pytest.mark.parametrize("y", [[1, 1, 1], [0, 0, 0]])
def test_one_class_gives_nan_and_warning(y):
    with pytest.warns(UndefinedMetricWarning, match="AUC is undefined"):
        res = bootstrap_ci(y, [0.1, 0.2, 0.3], n_resamples=10, random_state=0)
    assert math.isnan(res.estimate)
    assert math.isnan(res.ci_low)
    assert math.isnan(res.ci_high)


# --------------------------------------------------------------------------- bad input

Y = [0, 1, 0, 1, 1, 0]
S = [0.1, 0.8, 0.3, 0.6, 0.5, 0.2]


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"random_state": "0"}, TypeError, "random_state must be None, an int"),
        ({"random_state": 1.5}, TypeError, "random_state"),
        ({"random_state": True}, TypeError, "random_state"),
        ({"random_state": -1}, ValueError, "random_state must be a non-negative int; got -1"),
        ({"n_resamples": 0}, ValueError, r"n_resamples must be an integer >= 1; got 0"),
        ({"n_resamples": 10.0}, TypeError, "n_resamples"),
        ({"method": "bcaa"}, ValueError, r"method must be one of .* Did you mean 'bca'\?"),
        ({"method": "percentil"}, ValueError, r"Did you mean 'percentile'\?"),
        ({"method": 3}, TypeError, "method"),
        ({"confidence_level": 1.5}, ValueError, r"confidence_level must be in \(0, 1\)"),
        ({"stratify": "yes"}, TypeError, "stratify must be True or False"),
        ({"groups": [1, 2]}, ValueError, "groups must have one entry per case"),
        ({"y_score": [0.1, 0.8, np.nan, 0.6, 0.5, 0.2]}, ValueError, "y_score must be finite"),
        (
            {"y_score": [0.1, 0.8]},
            ValueError,
            r"y_score must have one entry per case \(6\); got 2",
        ),
        ({"y_true": [0, 1, 2, 1, 1, 0]}, ValueError, "y_true must contain only 0 and 1"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, pattern):
    args = {"y_true": Y, "y_score": S, "random_state": 0, **kwargs}
    with pytest.raises(error, match=pattern):
        bootstrap_ci(args.pop("y_true"), args.pop("y_score"), **args)
