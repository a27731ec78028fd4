"""Tasks with a planted failing subclass, where the truth is known.

Shared by the recovery tests, ``benchmarks/bench_discovery.py`` and
``docs/scripts/make_detect_figures.py`` (which add this folder to ``sys.path``).

* :func:`planted_task` — synthetic embeddings: the positives contain a hidden subclass
  that sits in its own region of embedding space and gets lower scores.
* :func:`digits_task` — scikit-learn's bundled 8x8 digits as a superclass task
  ("is the digit even?"). Digit 8 is kept at 5% of its cases in training, so a small
  MLP learns little about it and misses many 8s in test. The embeddings are the MLP's
  hidden layer on the test images, as an audit of a real model would use.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier


@dataclass(frozen=True)
class Task:
    """A detection task: what an audit sees, and the planted truth."""

    y_true: npt.NDArray[np.bool_]
    y_score: npt.NDArray[np.float64]
    embeddings: npt.NDArray[np.floating]
    subclass: npt.NDArray[np.bool_]  # the planted failing subclass (a subset of positives)
    images: npt.NDArray[np.float64] | None = None
    groups: npt.NDArray[np.int_] | None = None  # e.g. the digit of each case


def planted_task(
    n: int = 2_000,
    n_features: int = 32,
    *,
    prevalence: float = 0.4,
    subclass_share: float = 0.2,
    separation: float = 4.0,
    score_drop: float = 2.0,
    n_modes: int = 3,
    dtype: type[np.floating] = np.float64,
    random_state: int = 0,
) -> Task:
    """Gaussian embeddings with natural sub-structure and one hidden failing subclass.

    Each class is a mixture of ``n_modes`` Gaussian blobs (benign structure that any
    clustering will pick up); a ``subclass_share`` of the positives form an extra
    blob ``separation`` standard deviations away whose scores are ``score_drop`` lower.
    """
    rng = np.random.default_rng(random_state)
    y = rng.random(n) < prevalence
    subclass = y & (rng.random(n) < subclass_share)
    centers = rng.normal(0.0, separation / np.sqrt(2), (2 * n_modes + 1, n_features))
    mode = rng.integers(0, n_modes, n) + np.where(y, n_modes, 0)
    mode = np.where(subclass, 2 * n_modes, mode)
    scores = rng.normal(size=n) + 2.0 * y - score_drop * subclass
    # Built in place, a block of rows at a time, so that 100,000 x 1,024 float32
    # embeddings need no float64 copy.
    embeddings = rng.standard_normal((n, n_features), dtype=dtype)
    centers = centers.astype(dtype)
    for start in range(0, n, 8_192):
        embeddings[start : start + 8_192] += centers[mode[start : start + 8_192]]
    return Task(y, scores, embeddings, subclass, groups=mode)


def digits_task(*, rare_digit: int = 8, keep_share: float = 0.05, random_state: int = 0) -> Task:
    """Even-vs-odd digits with ``rare_digit`` nearly absent from training (see module doc)."""
    pixels, digit = load_digits(return_X_y=True)
    pixels = pixels / 16.0
    x_train, x_test, d_train, d_test = train_test_split(
        pixels, digit, test_size=0.5, stratify=digit, random_state=random_state
    )
    rng = np.random.default_rng(random_state)
    keep = (d_train != rare_digit) | (rng.random(len(d_train)) < keep_share)
    model = MLPClassifier((32,), alpha=1e-3, max_iter=2_000, random_state=random_state)
    with warnings.catch_warnings():
        # The model must converge: a non-converged one would make the task arbitrary.
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(x_train[keep], d_train[keep] % 2 == 0)
    scores = model.predict_proba(x_test)[:, 1]
    hidden = np.maximum(x_test @ model.coefs_[0] + model.intercepts_[0], 0.0)
    y = d_test % 2 == 0
    return Task(
        y,
        scores,
        hidden,
        d_test == rare_digit,
        images=x_test.reshape(-1, 8, 8),
        groups=d_test,
    )


def top_cluster_recovery(
    labels: npt.NDArray[np.intp], subclass: npt.NDArray[np.bool_]
) -> tuple[float, float]:
    """Precision and recall of cluster 0 (the top-ranked) for the planted subclass."""
    top = labels == 0
    precision = float(subclass[top].mean()) if top.any() else 0.0
    recall = float(top[subclass].mean()) if subclass.any() else 0.0
    return precision, recall
