import numpy as np
import pandas as pd
import pytest

from hstrat._validation import (
    check_confidence_level,
    check_groups,
    check_int,
    check_labels,
    check_option,
    check_random_state,
    check_scores,
)


def test_labels_accept_bool_and_01():
    assert check_labels([True, False]).tolist() == [True, False]
    assert check_labels(np.array([0, 1, 1])).tolist() == [False, True, True]
    assert check_labels(pd.Series([0.0, 1.0])).tolist() == [False, True]
    assert check_labels(np.array([1, 0], dtype=object)).tolist() == [True, False]


@pytest.mark.parametrize(
    ("labels", "error", "fragment"),
    [
        ([0, 1, 2], ValueError, "only 0 and 1"),
        ([-1, 1], ValueError, "only 0 and 1"),
        ([0, np.nan], ValueError, "NaN"),
        (["pos", "neg"], TypeError, "'pos'"),
        ([[0, 1]], ValueError, "1-D"),
        (None, TypeError, "required"),
        (1, TypeError, "scalar"),
    ],
)
def test_labels_refused_with_named_argument(labels, error, fragment):
    with pytest.raises(error, match="y_true") as info:
        check_labels(labels)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("scores", "error", "fragment"),
    [
        ([0.1, np.nan], ValueError, "position 1"),
        ([0.1, np.inf], ValueError, "finite"),
        (["a", "b"], TypeError, "real numbers"),
        (np.zeros((3, 2)), ValueError, "y_score[:, 1]"),
        (np.zeros((3, 1)), ValueError, "ravel"),
    ],
)
def test_scores_refused(scores, error, fragment):
    with pytest.raises(error, match="y_score") as info:
        check_scores(scores)
    assert fragment in str(info.value)


def test_scores_booleans_are_not_scores():
    with pytest.raises(TypeError, match="y_score"):
        check_scores([True, False])


def test_option_suggests_closest():
    with pytest.raises(ValueError, match=r"Did you mean 'bca'\?"):
        check_option("bcaa", "method", ("percentile", "basic", "bca"))
    with pytest.raises(TypeError, match="method"):
        check_option(3, "method", ("a",))


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1])
def test_confidence_level_range(value):
    with pytest.raises(ValueError, match=rf"confidence_level must be in \(0, 1\); got {value}"):
        check_confidence_level(value)


def test_confidence_level_type():
    with pytest.raises(TypeError, match="confidence_level"):
        check_confidence_level("0.95")


def test_int_checks():
    assert check_int(5, "n", minimum=1) == 5
    with pytest.raises(ValueError, match="n_resamples must be an integer >= 1; got 0"):
        check_int(0, "n_resamples", minimum=1)
    with pytest.raises(TypeError, match="n_resamples"):
        check_int(2.5, "n_resamples", minimum=1)
    with pytest.raises(TypeError, match="n_resamples"):
        check_int(True, "n_resamples", minimum=1)


def test_random_state():
    a = check_random_state(3).random(3)
    b = check_random_state(3).random(3)
    assert np.array_equal(a, b)
    g = np.random.default_rng(1)
    assert check_random_state(g) is g
    with pytest.raises(TypeError, match="random_state"):
        check_random_state("1")
    with pytest.raises(ValueError, match="non-negative"):
        check_random_state(-1)


def test_groups_codes_and_missing():
    codes = check_groups(["p2", "p1", "p2"], 3)
    assert codes.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="groups contains a missing value at position 1"):
        check_groups(["a", None, "b"], 3)
    with pytest.raises(ValueError, match="one entry per sample"):
        check_groups(["a"], 3)
