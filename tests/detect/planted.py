"""Tasks with a planted failing subclass (or none), where the truth is known.

Shared by the detector tests, ``benchmarks/bench_discovery.py`` and
``docs/scripts/make_detect_figures.py`` (which add this folder to ``sys.path``).
A :class:`Task` is what an audit sees — labels, scores, embeddings — plus the planted
``subclass`` (a mask inside one class; all False for a null task). The families:

* :func:`planted_task` — Gaussian embeddings: each class is a mixture of benign blobs
  (``separation`` sets how strong that structure is; a blob may be slightly harder
  than another), and a ``subclass_share`` of one class forms its own blob whose scores
  are ``score_drop`` SD worse. ``score_drop=0`` makes a null task: structure, no failure.
* :func:`digits_task` — scikit-learn's 8x8 digits as a superclass task (e.g. "is the
  digit even?"); one digit is kept at ``keep_share`` of its cases in training, so a
  small MLP learns little about it. Embeddings: the MLP's hidden layer on the test half.
* :func:`cxr_task` — :func:`hstrat.datasets.make_synthetic_cxr` at 32x32 with a planted
  failure (a missing drain shortcut, a rare appearance, label noise in a subclass, a
  subclass among the negatives); an MLP on the pixels, its hidden layer as embeddings.
* :func:`tabular_task` — scikit-learn's breast-cancer data; a natural subgroup of one
  class (a k-means cluster of its standardized features) kept at ``keep_share`` in
  training; an MLP's hidden layer as embeddings.

:func:`discovery_suite` draws the benchmark's tasks from these families, seeded, and
:func:`model_fails` says whether the model really fails on a task's subclass.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from hstrat.metrics import operating_threshold

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Task:
    """A detection task: what an audit sees, and the planted truth."""

    y_true: BoolArray
    y_score: npt.NDArray[np.float64]
    embeddings: npt.NDArray[np.floating]
    subclass: BoolArray  # the planted failing subclass, inside one class (none: null task)
    images: npt.NDArray[np.float64] | None = None
    groups: npt.NDArray[np.int_] | None = None  # e.g. the digit of each case
    family: str = ""
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_null(self) -> bool:
        """Whether no failing subclass was planted."""
        return not bool(self.subclass.any())


def planted_task(
    n: int = 2_000,
    n_features: int = 32,
    *,
    prevalence: float = 0.4,
    subclass_share: float = 0.2,
    separation: float = 4.0,
    subclass_separation: float | None = None,
    score_drop: float = 2.0,
    n_modes: int = 3,
    mode_score_sd: float = 0.0,
    in_negatives: bool = False,
    dtype: type[np.floating] = np.float64,
    random_state: int = 0,
) -> Task:
    """Gaussian embeddings with benign sub-structure and one hidden failing subclass.

    Each class is a mixture of ``n_modes`` Gaussian blobs whose centres are spread
    ``separation`` SD apart (benign structure any clustering will pick up; with
    ``mode_score_sd`` > 0 some blobs are a little harder than others); a
    ``subclass_share`` of the positives (of the negatives with ``in_negatives``) form an
    extra blob ``subclass_separation`` (default ``separation``) SD away whose scores
    are ``score_drop`` SD worse. ``score_drop=0`` plants no failure: a null task.
    """
    rng = np.random.default_rng(random_state)
    y = rng.random(n) < prevalence
    own_class = ~y if in_negatives else y
    subclass = own_class & (rng.random(n) < subclass_share)
    centers = rng.normal(0.0, separation / np.sqrt(2), (2 * n_modes + 1, n_features))
    if subclass_separation is not None:
        centers[-1] = rng.normal(0.0, subclass_separation / np.sqrt(2), n_features)
    mode = rng.integers(0, n_modes, n) + np.where(y, n_modes, 0)
    mode = np.where(subclass, 2 * n_modes, mode)
    mode_shift = np.zeros(2 * n_modes + 1)
    if mode_score_sd > 0:
        mode_shift[:-1] = rng.normal(0.0, mode_score_sd, 2 * n_modes)
    worse = np.where(y, -1.0, 1.0) * score_drop * subclass
    scores = rng.normal(size=n) + 2.0 * y + mode_shift[mode] + worse
    # Built in place, a block of rows at a time, so that 100,000 x 1,024 float32
    # embeddings need no float64 copy.
    embeddings = rng.standard_normal((n, n_features), dtype=dtype)
    centers = centers.astype(dtype)
    for start in range(0, n, 8_192):
        embeddings[start : start + 8_192] += centers[mode[start : start + 8_192]]
    if score_drop == 0:
        subclass = np.zeros(n, dtype=bool)
    return Task(y, scores, embeddings, subclass, groups=mode, family="gaussian")


def _fit_mlp(x: Any, y: Any, hidden: int, seed: int, *, max_iter: int = 2_000) -> MLPClassifier:
    model = MLPClassifier((hidden,), alpha=1e-3, max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return model


def _hidden_layer(model: MLPClassifier, x: Any) -> npt.NDArray[np.float64]:
    return np.maximum(x @ model.coefs_[0] + model.intercepts_[0], 0.0)


#: Superclass splits of the digits: name -> the digits that are positives.
DIGIT_SPLITS: dict[str, tuple[int, ...]] = {
    "even": (0, 2, 4, 6, 8),
    ">=5": (5, 6, 7, 8, 9),
    "prime": (2, 3, 5, 7),
    "round": (0, 3, 6, 8, 9),
}


def digits_task(
    *,
    rare_digit: int = 8,
    split: str = "even",
    keep_share: float = 0.05,
    hidden: int = 32,
    random_state: int = 0,
) -> Task:
    """A digits superclass task with ``rare_digit`` nearly absent from training."""
    pixels, digit = load_digits(return_X_y=True)
    pixels = pixels / 16.0
    x_train, x_test, d_train, d_test = train_test_split(
        pixels, digit, test_size=0.5, stratify=digit, random_state=random_state
    )
    positives = np.array(DIGIT_SPLITS[split])
    rng = np.random.default_rng(random_state)
    keep = (d_train != rare_digit) | (rng.random(len(d_train)) < keep_share)
    model = _fit_mlp(x_train[keep], np.isin(d_train[keep], positives), hidden, random_state)
    return Task(
        np.isin(d_test, positives),
        model.predict_proba(x_test)[:, 1],
        _hidden_layer(model, x_test),
        d_test == rare_digit,
        images=x_test.reshape(-1, 8, 8),
        groups=d_test,
        family="digits",
    )


#: The planted failures of the synthetic chest X-ray family.
CXR_FAILURES = ("missing drain", "rare appearance", "label noise", "among negatives")


def cxr_task(failure: str = "missing drain", *, random_state: int = 0) -> Task:
    """Synthetic chest X-rays (32x32) with one planted failure (see the module doc).

    * ``"missing drain"`` — 90% of training positives have a chest drain, 50% of test
      positives: the model learns the drain and misses pneumothorax without one;
    * ``"rare appearance"`` — pneumothorax of the patient's left side is kept at 5% in
      training (and 40% in test): the model learns right-sided signs;
    * ``"label noise"`` — 70% of training positives with an airspace opacity are
      labelled negative: the model under-calls pneumothorax under an opacity;
    * ``"among negatives"`` — no training negative has a drain, 15% of test negatives
      do: the model calls them positive.
    """
    from hstrat.datasets import make_synthetic_cxr

    train_kw: dict[str, float] = {}
    test_kw: dict[str, float] = {}
    if failure == "missing drain":
        train_kw, test_kw = {"drain_rate_pos": 0.9}, {"drain_rate_pos": 0.5}
    elif failure == "among negatives":
        train_kw, test_kw = {"drain_rate_neg": 0.0}, {"drain_rate_neg": 0.15}
    rng = np.random.default_rng(random_state)
    seeds = rng.integers(2**31 - 1, size=3)
    train = make_synthetic_cxr(2_500, image_size=32, random_state=int(seeds[0]), **train_kw)
    test = make_synthetic_cxr(1_500, image_size=32, random_state=int(seeds[1]), **test_kw)
    y_train = train.labels.astype(bool)
    keep = np.ones(len(y_train), dtype=bool)
    meta, test_meta = train.metadata, test.metadata
    if failure == "rare appearance":
        keep = ~(y_train & (meta["side"] == "left").to_numpy()) | (rng.random(len(keep)) < 0.05)
    elif failure == "label noise":
        noisy = y_train & meta["airspace_opacity"].to_numpy(bool)
        y_train = y_train & ~(noisy & (rng.random(len(keep)) < 0.7))
    y = test.labels.astype(bool)
    drain = test_meta["chest_drain"].to_numpy(bool)
    subclass = {
        "missing drain": y & ~drain,
        "rare appearance": y & (test_meta["side"] == "left").to_numpy(),
        "label noise": y & test_meta["airspace_opacity"].to_numpy(bool),
        "among negatives": ~y & drain,
    }[failure]
    shown = np.ones(len(y), dtype=bool)
    if failure == "rare appearance":  # the subclass is 40% of its kind in test
        shown = ~subclass | (rng.random(len(y)) < 0.4)
    x = train.images.reshape(len(train), -1)[keep]
    mean, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = _fit_mlp((x - mean) / sd, y_train[keep], 32, int(seeds[2]), max_iter=300)
    x_test = (test.images.reshape(len(test), -1)[shown] - mean) / sd
    return Task(
        y[shown],
        model.predict_proba(x_test)[:, 1],
        _hidden_layer(model, x_test),
        subclass[shown],
        family="cxr",
    )


def tabular_task(
    *, positives: bool = True, share: float = 0.3, keep_share: float = 0.1, random_state: int = 0
) -> Task:
    """Breast cancer (malignant = positive) with a borderline subgroup rare in training.

    The subgroup is the ``share`` of one class nearest the other class along the first
    principal component of the standardized features (small malignant tumours, or large
    benign ones): unlabelled, as a natural subtype would be. It keeps ``keep_share`` of
    its training cases; the embeddings are a 16-unit MLP's hidden layer on the test half.
    """
    x, target = load_breast_cancer(return_X_y=True)
    y_all = target == 0  # 0 = malignant in scikit-learn's coding
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    direction = np.linalg.svd(x, full_matrices=False)[2][0]
    along = x @ direction
    if along[y_all].mean() < along[~y_all].mean():
        along = -along  # malignant cases score high
    own = y_all if positives else ~y_all
    toward_other = -along if positives else along
    cut = np.quantile(toward_other[own], 1.0 - share)
    sub_all = own & (toward_other >= cut)
    idx_train, idx_test = train_test_split(
        np.arange(len(y_all)), test_size=0.5, stratify=y_all * 2 + sub_all,
        random_state=random_state,
    )  # fmt: skip
    rng = np.random.default_rng(random_state)
    keep = ~sub_all[idx_train] | (rng.random(len(idx_train)) < keep_share)
    train = idx_train[keep]
    model = _fit_mlp(x[train], y_all[train], 16, random_state)
    return Task(
        y_all[idx_test],
        model.predict_proba(x[idx_test])[:, 1],
        _hidden_layer(model, x[idx_test]),
        sub_all[idx_test],
        family="tabular",
    )


def model_fails(task: Task) -> bool:
    """Whether the model really fails on the planted subclass.

    The subclass's AUC against the other class is at least 0.02 below the rest of its
    class's, and its error rate at the operating point (Youden) is at least 10 points
    above the rest's. Null tasks never fail.
    """
    if task.is_null:
        return False
    y, s, sub = task.y_true, task.y_score, task.subclass
    in_pos = bool(y[sub].all())
    own = y if in_pos else ~y
    rest = own & ~sub

    def auc(members: BoolArray) -> float:
        keep = members | ~own
        return float(roc_auc_score(y[keep], s[keep]))

    threshold = operating_threshold(y, s)
    errors = np.where(y, s < threshold, s >= threshold)
    return bool(auc(sub) <= auc(rest) - 0.02 and errors[sub].mean() >= errors[rest].mean() + 0.10)


def _named(task: Task, name: str, **params: Any) -> Task:
    return Task(
        task.y_true, task.y_score, task.embeddings, task.subclass, task.images, task.groups,
        family=task.family, name=name, params=params,
    )  # fmt: skip


def discovery_suite(
    seed: int = 0, *, quick: bool = False, family: str | None = None
) -> Iterator[Callable[[], Task]]:
    """The benchmark's tasks, as makers (each builds its task when called).

    With any seed (``0``-``2``: the default was chosen on them; ``3``, ``4``: its checks)
    the families have the same sizes — 60 digits, 16 chest X-ray, 30 Gaussian, 12
    tabular and 24 null tasks (142) — but their settings and data seeds are drawn anew.
    ``quick`` keeps one task in twenty (8); ``family`` keeps one family (``"digits"``,
    ``"cxr"``, ``"gaussian"``, ``"tabular"``, ``"null"``).
    """
    rng = np.random.default_rng([seed, 13])
    makers: list[Callable[[], Task]] = []
    families: list[str] = []

    splits = list(DIGIT_SPLITS)
    for i in range(60):
        params = {
            "rare_digit": i % 10,
            "split": splits[(i // 10) % len(splits)] if seed == 0 else str(rng.choice(splits)),
            "keep_share": float(rng.choice([0.0, 0.02, 0.05])),
            "hidden": int(rng.choice([16, 32, 64])),
            "random_state": int(rng.integers(10_000)),
        }
        name = "digits {split} rare {rare_digit} keep {keep_share} h{hidden}".format(**params)
        makers.append(lambda p=params, n=name: _named(digits_task(**p), n, **p))
    families += ["digits"] * (len(makers) - len(families))
    for i in range(16):
        failure = CXR_FAILURES[i % 4]
        data_seed = int(rng.integers(10_000))
        makers.append(
            lambda f=failure, s=data_seed: _named(
                cxr_task(f, random_state=s), f"cxr {f} seed {s}", failure=f, random_state=s
            )
        )
    families += ["cxr"] * (len(makers) - len(families))
    for _ in range(30):
        params = {
            "n": int(rng.choice([1_000, 2_000, 4_000])),
            "n_features": int(rng.choice([16, 64])),
            "subclass_share": float(rng.choice([0.05, 0.1, 0.2])),
            "separation": float(rng.choice([1.0, 2.0, 4.0, 6.0])),
            "subclass_separation": float(rng.choice([2.0, 3.0, 4.0])),
            "score_drop": float(rng.choice([1.0, 1.5, 2.5])),
            "n_modes": int(rng.choice([2, 3, 5])),
            "mode_score_sd": float(rng.choice([0.0, 0.3])),
            "in_negatives": bool(rng.random() < 0.3),
            "random_state": int(rng.integers(10_000)),
        }
        name = "gaussian sep {separation} sub {subclass_separation} drop {score_drop}".format(
            **params
        )
        makers.append(lambda p=params, n=name: _named(planted_task(**p), n, **p))
    families += ["gaussian"] * (len(makers) - len(families))
    for i in range(12):
        params = {
            "positives": i % 2 == 0,
            "share": float(rng.choice([0.2, 0.3])),
            "keep_share": float(rng.choice([0.0, 0.1])),
            "random_state": int(rng.integers(10_000)),
        }
        name = "tabular {} share {share} keep {keep_share}".format(
            "malignant" if params["positives"] else "benign", **params
        )
        makers.append(lambda p=params, n=name: _named(tabular_task(**p), n, **p))
    families += ["tabular"] * (len(makers) - len(families))
    for _ in range(24):
        params = {
            "n": int(rng.choice([800, 2_000])),
            "n_features": int(rng.choice([8, 32])),
            "separation": float(rng.choice([1.0, 3.0, 6.0])),
            "n_modes": int(rng.choice([2, 3, 4])),
            "score_drop": 0.0,
            "random_state": int(rng.integers(10_000)),
        }
        name = "null sep {separation} modes {n_modes} n {n}".format(**params)
        makers.append(lambda p=params, n=name: _named(_as_null(planted_task(**p)), n, **p))
    families += ["null"] * (len(makers) - len(families))
    chosen = [m for m, f in zip(makers, families, strict=True) if family in (None, f)]
    yield from chosen[::20] if quick else chosen


def _as_null(task: Task) -> Task:
    return Task(task.y_true, task.y_score, task.embeddings, task.subclass, family="null")


def top_cluster_recovery(labels: npt.NDArray[np.intp], subclass: BoolArray) -> tuple[float, float]:
    """Precision and recall of cluster 0 (the top-ranked) for the planted subclass."""
    top = labels == 0
    precision = float(subclass[top].mean()) if top.any() else 0.0
    recall = float(top[subclass].mean()) if subclass.any() else 0.0
    return precision, recall
