import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from hstrat.metrics import (
    operating_threshold,
    stratified_threshold_metrics,
    threshold_metrics,
    wilson_ci,
)


def data(seed=0, n=300, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.35
    s = rng.normal(size=n) + 1.2 * y
    if ties:
        s = np.round(s, 1)
    return y, s


def brute(y, s):
    out = []
    for t in np.unique(s)[::-1]:
        sens = np.mean(s[y] >= t)
        spec = np.mean(s[~y] < t)
        out.append((t, sens, spec))
    return out


@pytest.mark.parametrize("ties", [False, True])
def test_youden_is_the_best_observed_threshold(ties):
    y, s = data(ties=ties)
    best = max(brute(y, s), key=lambda r: (r[1] + r[2], r[0]))
    assert operating_threshold(y, s) == best[0]


@pytest.mark.parametrize("target", [0.5, 0.8, 0.95, 1.0])
def test_sensitivity_target_is_the_highest_threshold_reaching_it(target):
    y, s = data(ties=True)
    ok = [t for t, sens, _ in brute(y, s) if sens >= target]
    t = operating_threshold(y, s, method="sensitivity", target=target)
    assert t == max(ok)
    assert np.mean(s[y] >= t) >= target


@pytest.mark.parametrize("target", [0.5, 0.9, 0.99])
def test_specificity_target_is_the_lowest_threshold_reaching_it(target):
    y, s = data(ties=True)
    ok = [t for t, _, spec in brute(y, s) if spec >= target]
    assert operating_threshold(y, s, method="specificity", target=target) == min(ok)


def test_specificity_unreachable_calls_nothing_positive():
    y = np.array([0, 1, 0])
    s = np.array([0.9, 0.5, 0.1])
    t = operating_threshold(y, s, method="specificity", target=1.0)
    assert t > 0.9
    assert not (s >= t).any()


def test_threshold_argument_errors():
    y, s = data()
    with pytest.raises(ValueError, match="needs a target"):
        operating_threshold(y, s, method="sensitivity")
    with pytest.raises(ValueError, match="target is only used"):
        operating_threshold(y, s, target=0.9)
    with pytest.raises(ValueError, match=r"target must be in \[0, 1\]"):
        operating_threshold(y, s, method="specificity", target=1.5)
    with pytest.raises(ValueError, match="Did you mean 'youden'"):
        operating_threshold(y, s, method="youdn")
    with pytest.raises(ValueError, match="both classes"):
        operating_threshold(np.ones(3), np.arange(3.0))


@pytest.mark.parametrize(("x", "n"), [(0, 10), (3, 10), (10, 10), (81, 90), (1, 1), (500, 1000)])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels(x, n, level):
    low, high = wilson_ci(x, n, confidence_level=level)
    ref = proportion_confint(x, n, alpha=1 - level, method="wilson")
    assert float(low) == pytest.approx(ref[0], abs=1e-12)
    assert float(high) == pytest.approx(ref[1], abs=1e-12)


def test_wilson_empty_and_invalid():
    low, high = wilson_ci(0, 0)
    assert np.isnan(low)
    assert np.isnan(high)
    with pytest.raises(ValueError, match="successes"):
        wilson_ci(5, 3)


def test_threshold_metrics_match_confusion_matrix():
    y, s = data(seed=4)
    t = 0.6
    tn, fp, fn, tp = confusion_matrix(y, s >= t).ravel()
    table = threshold_metrics(y, s, t).set_index("metric")
    assert table.loc["sensitivity", "estimate"] == tp / (tp + fn)
    assert table.loc["specificity", "estimate"] == tn / (tn + fp)
    assert table.loc["ppv", "estimate"] == tp / (tp + fp)
    assert table.loc["npv", "estimate"] == tn / (tn + fn)
    assert table.loc["ppv", "denominator"] == tp + fp
    with pytest.raises(TypeError, match="threshold must be a number"):
        threshold_metrics(y, s, "0.5")


def test_stratified_threshold_metrics_by_population():
    y, s = data(seed=5, n=400)
    rng = np.random.default_rng(1)
    subtle = y & (rng.random(len(y)) < 0.3)
    site = rng.random(len(y)) < 0.5
    t = operating_threshold(y, s)
    table = stratified_threshold_metrics(y, s, {"subtle": subtle, "site": site}, t).set_index(
        "stratum"
    )
    called = s >= t
    # a stratum of positives: own sensitivity, all negatives' specificity
    assert table.loc["subtle", "sensitivity"] == called[subtle].mean()
    assert table.loc["subtle", "specificity"] == (~called[~y]).mean()
    rest = y & ~subtle
    fisher = stats.fisher_exact(
        [
            [called[subtle].sum(), (~called[subtle]).sum()],
            [called[rest].sum(), (~called[rest]).sum()],
        ]
    ).pvalue
    assert table.loc["subtle", "sensitivity_p_value"] == pytest.approx(fisher)
    assert np.isnan(table.loc["subtle", "specificity_p_value"])  # same negatives: no test
    # a stratum of both classes: both read inside it
    assert table.loc["site", "sensitivity"] == called[site & y].mean()
    assert table.loc["site", "specificity"] == (~called[site & ~y]).mean()
    assert not np.isnan(table.loc["site", "specificity_p_value"])
    assert table.loc["overall", "tp"] == (called & y).sum()
    low, _ = wilson_ci(called[subtle].sum(), subtle.sum())
    assert table.loc["subtle", "sensitivity_low"] == pytest.approx(float(low))


def test_stratified_threshold_metrics_accepts_frames():
    y, s = data()
    labels = pd.DataFrame({"v": np.where(y, "a", "b")})
    out = stratified_threshold_metrics(y, s, labels, 0.0)
    assert out["stratum"].tolist() == ["overall", "v=a", "v=b"]
    assert (out["threshold"] == 0.0).all()
