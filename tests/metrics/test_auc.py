"""The AUC and the ROC curve against scikit-learn, a brute-force count and properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from hstrat.exceptions import UndefinedMetricWarning
from hstrat.metrics import auc, roc_curve

# Hypothesis's "explain" phase imports libcst, which emits a DeprecationWarning that
# `filterwarnings = error` turns into an INTERNALERROR hiding the falsifying example.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]


def brute_force_auc(y, s):
    """Mann-Whitney count over every positive-negative pair, ties one half."""
    pos = [v for v, t in zip(s, y, strict=True) if t]
    neg = [v for v, t in zip(s, y, strict=True) if not t]
    total = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return total / (len(pos) * len(neg))


@st.composite
def labelled_scores(draw, tie_heavy=None, min_size=2, max_size=60):
    """Labels with both classes and scores that are tie-heavy (few levels) or not."""
    n = draw(st.integers(min_size, max_size))
    y = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    pos_at = draw(st.integers(0, n - 1))
    neg_at = draw(st.integers(0, n - 2))
    neg_at += neg_at >= pos_at
    y[pos_at], y[neg_at] = True, False
    if tie_heavy is None:
        tie_heavy = draw(st.booleans())
    if tie_heavy:
        levels = draw(st.integers(1, 5))
        values = st.integers(0, levels - 1).map(float)
    else:
        values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    s = draw(st.lists(values, min_size=n, max_size=n))
    return np.array(y), np.array(s)


# --------------------------------------------------------------------------- properties


@settings(max_examples=120, deadline=None, phases=PHASES)
@given(labelled_scores())
def test_equals_sklearn_and_brute_force(data):
    y, s = data
    value = auc(y, s)
    assert value == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert value == pytest.approx(brute_force_auc(y, s), abs=1e-12)


@settings(max_examples=120, deadline=None, phases=PHASES)
@given(labelled_scores(tie_heavy=True, max_size=300))
def test_equals_sklearn_on_tie_heavy_data(data):
    y, s = data
    assert auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


@settings(max_examples=120, deadline=None, phases=PHASES)
@given(labelled_scores())
def test_negated_scores_give_one_minus_auc(data):
    y, s = data
    assert auc(y, -s) == pytest.approx(1.0 - auc(y, s), abs=1e-12)


@settings(max_examples=120, deadline=None, phases=PHASES)
@given(labelled_scores(), st.data())
def test_invariant_to_strictly_increasing_transforms(data, draw):
    y, s = data
    levels, rank = np.unique(s, return_inverse=True)
    # Any strictly increasing map of the observed values: cumulative positive steps.
    steps = draw.draw(
        st.lists(
            st.floats(1e-3, 1e3, allow_nan=False),
            min_size=len(levels),
            max_size=len(levels),
        )
    )
    offset = draw.draw(st.floats(-1e3, 1e3, allow_nan=False))
    transformed = offset + np.cumsum(steps)[rank]
    assert auc(y, transformed) == auc(y, s)


@settings(max_examples=100, deadline=None, phases=PHASES)
@given(labelled_scores(), st.randoms(use_true_random=False))
def test_invariant_to_sample_order(data, random):
    y, s = data
    perm = list(range(len(y)))
    random.shuffle(perm)
    assert auc(y[perm], s[perm]) == auc(y, s)


@settings(max_examples=100, deadline=None, phases=PHASES)
@given(
    labelled_scores(),
    st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=60, max_size=60),
)
def test_weighted_equals_sklearn(data, weights):
    y, s = data
    w = np.array(weights[: len(y)])
    if w[y].sum() == 0 or w[~y].sum() == 0:
        with pytest.warns(UndefinedMetricWarning, match="weight is zero"):
            assert math.isnan(auc(y, s, sample_weight=w))
        return
    expected = skm.roc_auc_score(y, s, sample_weight=w)
    assert auc(y, s, sample_weight=w) == pytest.approx(expected, abs=1e-10)


@settings(max_examples=100, deadline=None, phases=PHASES)
@given(labelled_scores(), st.integers(1, 5))
def test_integer_weights_equal_repeated_cases(data, k):
    y, s = data
    w = (np.arange(len(y)) % k + 1).astype(float)
    repeated = np.repeat(np.arange(len(y)), w.astype(int))
    assert auc(y, s, sample_weight=w) == pytest.approx(auc(y[repeated], s[repeated]), abs=1e-12)


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1e150, 1e300])
def test_weighted_auc_does_not_depend_on_the_scale_of_weights(scale):
    # Regression: the product of the class totals used to underflow to 0/0 (or overflow
    # to inf/inf) and give NaN.
    y = np.array([1, 0, 0, 1, 0])
    s = np.array([0.3, 0.1, 0.5, 0.9, 0.3])
    w = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    expected = skm.roc_auc_score(y, s, sample_weight=w)
    assert auc(y, s, sample_weight=w * scale) == pytest.approx(expected, abs=1e-12)


def test_unit_weights_equal_unweighted():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = rng.integers(0, 7, 300).astype(float)
    assert auc(y, s, sample_weight=np.ones(300)) == pytest.approx(auc(y, s), abs=1e-14)


# --------------------------------------------------------------------------- ROC curve


@settings(max_examples=100, deadline=None, phases=PHASES)
@given(labelled_scores())
def test_roc_curve_equals_sklearn_points(data):
    y, s = data
    fpr, tpr, thresholds = skm.roc_curve(y, s, drop_intermediate=False)
    curve = roc_curve(y, s)
    assert list(curve.columns) == ["threshold", "fpr", "tpr"]
    np.testing.assert_allclose(curve["fpr"], fpr, atol=1e-12)
    np.testing.assert_allclose(curve["tpr"], tpr, atol=1e-12)
    # sklearn's first threshold is +inf (>= 1.3) and the rest are the distinct scores.
    np.testing.assert_array_equal(curve["threshold"].to_numpy()[1:], thresholds[1:])
    assert curve["threshold"].iloc[0] == np.inf
    # Trapezoidal area under the points is the AUC.
    assert np.trapezoid(curve["tpr"], curve["fpr"]) == pytest.approx(auc(y, s), abs=1e-12)


def test_roc_curve_small_example_by_hand():
    curve = roc_curve([0, 0, 1, 1, 1], [0.2, 0.5, 0.5, 0.9, 0.1])
    # thresholds >= 0.9: 1 TP; >= 0.5: 2 TP 1 FP; >= 0.2: 2 TP 2 FP; >= 0.1: all.
    assert curve["threshold"].tolist() == [np.inf, 0.9, 0.5, 0.2, 0.1]
    assert curve["tpr"].tolist() == pytest.approx([0, 1 / 3, 2 / 3, 2 / 3, 1])
    assert curve["fpr"].tolist() == pytest.approx([0, 0, 0.5, 1, 1])
    assert isinstance(curve, pd.DataFrame)


def test_roc_curve_needs_both_classes():
    with pytest.raises(ValueError, match="both classes in y_true; no negative cases"):
        roc_curve([1, 1], [0.2, 0.3])


# --------------------------------------------------------------------------- undefined


@pytest.mark.parametrize(
    ("y", "reason"),
    [([1, 1, 1], "no negative cases"), ([0, 0, 0], "no positive cases")],
)
def test_one_class_is_nan_with_warning(y, reason):
    with pytest.warns(UndefinedMetricWarning, match=reason):
        assert math.isnan(auc(y, [0.1, 0.5, 0.2]))


def test_zero_positive_weight_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning, match="total positive weight is zero"):
        assert math.isnan(auc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], sample_weight=[1, 0, 1, 0]))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("y", "s", "kwargs", "error", "pattern"),
    [
        (
            [0, 1, 1],
            [0.1, np.nan, 0.3],
            {},
            ValueError,
            r"y_score must be finite; got .*nan.* at position 1",
        ),
        ([0, 1, 1], [[0.1, 0.9]] * 3, {}, ValueError, r"y_score\[:, 1\]"),
        (
            [0, 1, 1],
            [0.1, 0.2],
            {},
            ValueError,
            r"y_score must have one entry per case \(3\); got 2",
        ),
        ([0, 1, 2], [0.1, 0.2, 0.3], {}, ValueError, r"y_true must contain only 0 and 1"),
        (["no", "yes", "yes"], [0.1, 0.2, 0.3], {}, TypeError, "y_true must be boolean"),
        ([0, 1, 1], ["0.1", "0.2", "0.3"], {}, TypeError, "y_score must be real numbers"),
        ([0, 1, 1], 0.5, {}, TypeError, "y_score must be a 1-D array-like"),
        ([0, 1, 1], None, {}, TypeError, "y_score is required"),
        ([0, 1, 1], [0.1, 0.2, 0.3], {"sample_weight": [1, -1, 1]}, ValueError, "non-negative"),
        ([0, 1, 1], [0.1, 0.2, 0.3], {"sample_weight": [1, 1]}, ValueError, "sample_weight"),
        (
            [0, 1, 1],
            [0.1, 0.2, 0.3],
            {"sample_weight": [1, np.nan, 1]},
            ValueError,
            "sample_weight must be finite",
        ),
    ],
)
def test_bad_input_names_the_argument(y, s, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        auc(y, s, **kwargs)
