"""Planning formulas (hstrat.metrics._power) against simulation under their own model.

Scores follow the exponential model of Hanley & McNeil (1982), under which their
variance is exact: negatives ~ Exp(1), positives ~ Exp(rate (1 - A) / A), so that
P(positive > negative) = A. Tests are DeLong Wald tests, computed here from scratch.
"""

import numpy as np
import pytest

from hstrat.metrics import (
    auc_power,
    auc_sample_size,
    detectable_auc_gap,
    hanley_mcneil_variance,
)

Z_975 = 1.959963984540054


def draw(rng, auc, shape):
    return rng.exponential(scale=auc / (1.0 - auc), size=shape)


def placements(pos, neg):
    """Per replicate: AUC and DeLong components. pos (R, m), neg (R, n)."""
    greater = (pos[:, :, None] > neg[:, None, :]).astype(float)
    v10 = greater.mean(axis=2)  # (R, m)
    v01 = greater.mean(axis=1)  # (R, n)
    return v10.mean(axis=1), v10, v01


def simulated_power(rng, *, auc_s, auc_r, m, n, m_ref=None, design="shared_negatives", reps=1500):
    neg = draw(rng, 0.5, (reps, n))  # Exp(1): scale a/(1-a) = 1 at a = 0.5
    pos = draw(rng, auc_s, (reps, m))
    theta, v10, v01 = placements(pos, neg)
    var = v10.var(axis=1, ddof=1) / m + v01.var(axis=1, ddof=1) / n
    if m_ref is None:
        diff = theta - auc_r
    else:
        ref_neg = neg if design == "shared_negatives" else draw(rng, 0.5, (reps, n))
        theta_r, v10_r, v01_r = placements(draw(rng, auc_r, (reps, m_ref)), ref_neg)
        var = var + v10_r.var(axis=1, ddof=1) / m_ref + v01_r.var(axis=1, ddof=1) / n
        if design == "shared_negatives":
            cov = (
                (v01 - v01.mean(axis=1, keepdims=True))
                * (v01_r - v01_r.mean(axis=1, keepdims=True))
            ).sum(axis=1) / (n - 1)
            var = var - 2 * cov / n
        diff = theta - theta_r
    return float(np.mean(np.abs(diff) / np.sqrt(var) > Z_975))


@pytest.mark.parametrize(("auc", "m", "n"), [(0.9, 30, 60), (0.75, 20, 100), (0.6, 50, 40)])
def test_hanley_mcneil_variance_matches_simulation(auc, m, n):
    rng = np.random.default_rng(int(auc * 100) + m)
    reps = 4000
    theta, _, _ = placements(draw(rng, auc, (reps, m)), draw(rng, 0.5, (reps, n)))
    empirical = theta.var(ddof=1)
    assert abs(theta.mean() - auc) < 0.01
    # the variance of a sample variance from 4000 replicates is about 2/4000 (relative)
    assert empirical == pytest.approx(hanley_mcneil_variance(auc, n_pos=m, n_neg=n), rel=0.08)


def test_hanley_mcneil_known_values():
    # symmetric in nothing: more negatives help less than more positives at high AUC
    a = hanley_mcneil_variance(0.9, n_pos=50, n_neg=50)
    assert a == pytest.approx(0.0321238631**2, rel=1e-6)
    assert hanley_mcneil_variance(0.5, n_pos=10, n_neg=10) == pytest.approx(
        (0.25 + 9 * (1 / 3 - 0.25) + 9 * (1 / 3 - 0.25)) / 100
    )


@pytest.mark.parametrize(
    ("design", "kwargs"),
    [
        ("fixed", {"auc_s": 0.80, "auc_r": 0.9, "m": 40, "n": 120}),
        ("shared_negatives", {"auc_s": 0.75, "auc_r": 0.9, "m": 40, "n": 120, "m_ref": 120}),
        ("independent", {"auc_s": 0.75, "auc_r": 0.9, "m": 50, "n": 120, "m_ref": 120}),
    ],
)
def test_power_matches_simulated_delong_tests(design, kwargs):
    rng = np.random.default_rng(2024)
    sim_design = "shared_negatives" if design == "fixed" else design
    simulated = simulated_power(rng, design=sim_design, **kwargs)
    predicted = auc_power(
        kwargs["auc_s"],
        kwargs["auc_r"],
        n_pos=kwargs["m"],
        n_neg=kwargs["n"],
        n_pos_reference=kwargs.get("m_ref"),
        design=sim_design,
    )
    assert 0.3 < predicted < 0.95  # an informative scenario
    assert simulated == pytest.approx(predicted, abs=0.05)


def test_shared_negatives_raise_power_over_independent_references():
    common = {"n_pos": 40, "n_neg": 120, "n_pos_reference": 120}
    shared = auc_power(0.75, 0.9, design="shared_negatives", **common)
    independent = auc_power(0.75, 0.9, design="independent", **common)
    fixed = auc_power(0.75, 0.9, n_pos=40, n_neg=120)
    assert independent < shared < fixed


def test_sample_size_reaches_the_power_and_one_fewer_does_not():
    for kwargs in (
        {"n_neg": 300},
        {"n_neg": 300, "n_pos_reference": 200},
        {"n_neg": 300, "n_pos_reference": 200, "design": "independent", "n_neg_reference": 500},
    ):
        m = auc_sample_size(0.8, 0.9, power=0.8, **kwargs)
        extra = dict(kwargs.items())
        assert auc_power(0.8, 0.9, n_pos=m, **extra) >= 0.8
        assert auc_power(0.8, 0.9, n_pos=m - 1, **extra) < 0.8


def test_sample_size_holds_up_in_simulation():
    m = auc_sample_size(0.75, 0.9, n_neg=150, n_pos_reference=150, power=0.8)
    simulated = simulated_power(
        np.random.default_rng(7), auc_s=0.75, auc_r=0.9, m=m, n=150, m_ref=150, reps=2000
    )
    assert simulated == pytest.approx(0.8, abs=0.05)


def test_detectable_gap_is_where_the_power_is_reached():
    gap = detectable_auc_gap(38, n_neg=500, auc_reference=0.9, n_pos_reference=200)
    assert 0 < gap < 0.4
    power = auc_power(0.9 - gap, 0.9, n_pos=38, n_neg=500, n_pos_reference=200)
    assert power == pytest.approx(0.8, abs=1e-6)
    simulated = simulated_power(
        np.random.default_rng(3), auc_s=0.9 - gap, auc_r=0.9, m=38, n=500, m_ref=200, reps=1000
    )
    assert simulated == pytest.approx(0.8, abs=0.05)
    # more labels, smaller detectable gap
    assert detectable_auc_gap(150, n_neg=500, auc_reference=0.9, n_pos_reference=200) < gap


def test_papers_hip_fracture_scale_example():
    # 38 subtle fractures: a deficit of about 0.1 AUC is the least one could expect to see
    gap = detectable_auc_gap(38, n_neg=500, auc_reference=0.95)
    assert 0.05 < gap < 0.2


def test_unreachable_power_is_explained():
    with pytest.raises(ValueError, match=r"cannot exceed 0\.\d+\. Add negatives"):
        auc_sample_size(0.88, 0.9, n_neg=20, power=0.9)
    with pytest.raises(ValueError, match="no gap to detect"):
        auc_sample_size(0.9, 0.9, n_neg=100)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: hanley_mcneil_variance(1.0, n_pos=1, n_neg=1),
            ValueError,
            r"auc must be in \(0, 1\)",
        ),
        (
            lambda: hanley_mcneil_variance(0.8, n_pos=0, n_neg=1),
            ValueError,
            "n_pos must be an integer >= 1",
        ),
        (
            lambda: hanley_mcneil_variance(0.8, n_pos=2.5, n_neg=1),
            TypeError,
            "n_pos must be an integer",
        ),
        (
            lambda: auc_power(0.8, 0.9, n_pos=5, n_neg=5, alpha=0),
            ValueError,
            r"alpha must be in \(0, 1\)",
        ),
        (
            lambda: auc_power(0.8, 0.9, n_pos=5, n_neg=5, design="paired"),
            ValueError,
            "design must be one of",
        ),
        (
            lambda: auc_power(0.8, 0.9, n_pos=5, n_neg=5, n_neg_reference=5),
            ValueError,
            "n_neg_reference is only used",
        ),
        (
            lambda: auc_sample_size(0.8, 0.9, n_neg=5, power=0.01),
            ValueError,
            "power must exceed alpha",
        ),
        (
            lambda: detectable_auc_gap(5, n_neg=5, auc_reference="0.9"),
            TypeError,
            "auc_reference must be a number",
        ),
    ],
)
def test_arguments_are_checked(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("a_s", "a_r", "m", "n", "m_ref", "design"),
    [
        (0.75, 0.9, 33, 150, 150, "shared_negatives"),
        (0.75, 0.9, 33, 150, None, "shared_negatives"),
        (0.75, 0.9, 33, 150, 150, "independent"),
        (0.8, 0.9, 40, 120, None, "shared_negatives"),
        (0.6, 0.7, 80, 200, 200, "shared_negatives"),
        (0.77, 0.94, 25, 400, 100, "shared_negatives"),
    ],
)
def test_power_over_a_grid_of_designs(a_s, a_r, m, n, m_ref, design):
    simulated = simulated_power(
        np.random.default_rng(m * n),
        auc_s=a_s,
        auc_r=a_r,
        m=m,
        n=n,
        m_ref=m_ref,
        design=design,
        reps=5000,
    )
    predicted = auc_power(a_s, a_r, n_pos=m, n_neg=n, n_pos_reference=m_ref, design=design)
    assert simulated == pytest.approx(predicted, abs=0.03)
