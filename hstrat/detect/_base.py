"""What every embedding-clustering detector shares: the fit procedure and its outputs.

A detector looks for **unlabelled subclasses on which the model is worse**: it clusters
the model's embeddings of each class separately (a subclass is a subclass *of a
label*), ranks the clusters by how much worse the model is on them, and reports each
with an honest interval and test. The steps of :meth:`BaseDetector.fit`:

1. **Split** each class at random into a *discovery* part and a *held-out* part
   (``holdout``, default one half). ``holdout=None`` uses every case for both: an
   *exploratory* fit whose intervals are biased by selection (see below).
2. **Project** each class's embeddings on its principal components, fitted on the
   discovery cases.
3. **Cluster** each class's discovery cases for every candidate number of clusters;
   keep the one the detector's criterion prefers (error-rate gap, deficit z, BIC).
4. **Rank** the clusters of both classes by their discovery deficit (``rank_by``:
   AUC against the other class, or error rate at the operating point), worst first.
   Cluster ids are these ranks: cluster 0 is the worst. The order is fixed on the
   discovery cases too, so that "the top cluster" is chosen before its held-out
   estimate is seen (ordering by the held-out estimates would select on them again).
5. **Estimate** each cluster's AUC and error rate on its held-out members, with
   bootstrap intervals, tests against the rest of the class, and Holm/BH adjustment
   (:mod:`hstrat.detect._inference`).
6. **Check stability** by refitting on bootstrap resamples
   (:mod:`hstrat.detect._stability`).

Why hold out? Clusters are *chosen* for looking bad. Measured on the cases that chose
them, the worst cluster looks worse than it is — even with no real subclass at all,
the top cluster's AUC is below the rest and its p-value is small. Estimated on cases
that played no part in finding or ranking it, a cluster is just a pre-specified
subgroup: its interval covers, its p-value is uniform under the null. The price is
half the cases for each task.
"""

from __future__ import annotations

import math
import numbers
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.decomposition import PCA
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted
from typing_extensions import Self

from .._stratum import Stratum
from .._validation import (
    check_confidence_level,
    check_int,
    check_labels,
    check_option,
    check_random_state,
    check_scores,
    describe,
)
from ..metrics._stratified import CORRECTIONS
from ..metrics._threshold import operating_threshold
from ._convergence import fit_capturing_convergence
from ._discovery import ClusterStatistics, cluster_statistics, placements_against
from ._exemplars import EXEMPLAR_COLUMNS, exemplar_table
from ._inference import INFERENCE_COLUMNS, cluster_inference
from ._projection import fit_projection, project
from ._split import holdout_split
from ._stability import clustering_stability
from ._threads import limited_threads

__all__ = ["CLUSTER_COLUMNS", "EXEMPLAR_COLUMNS", "BaseDetector"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

RANK_BY = ("auc", "error_rate")
#: Paper's minimum cluster size (Oakden-Rayner et al. 2020) and the floor used when
#: scaling it down for small data.
PAPER_MIN_CLUSTER_SIZE = 100
SMALL_MIN_CLUSTER_SIZE = 10

CLUSTER_COLUMNS = [
    "cluster",
    "name",
    "class",
    "role",
    "eligible",
    "n",
    "n_discovery",
    *INFERENCE_COLUMNS[:-1],
    "discovery_auc",
    "discovery_auc_diff",
    "discovery_error_rate",
    "discovery_error_rate_diff",
    "stability",
    "inference",
    "note",
]
_PREFIX = {"negatives": "neg", "positives": "pos", "all": "all"}


def as_labels(values: Any) -> IntArray:
    """Return cluster labels as an ``intp`` array."""
    labels: IntArray = np.asarray(values, dtype=np.intp)
    return labels


def check_embeddings(embeddings: Any, name: str = "embeddings") -> npt.NDArray[np.floating[Any]]:
    """Return embeddings as a finite 2-D float32/float64 array (float32 is kept)."""
    ndim = getattr(embeddings, "ndim", None)
    if ndim is None and not isinstance(embeddings, (str, bytes)):
        try:
            ndim = np.ndim(embeddings)
        except ValueError:  # ragged nested lists: let check_array explain
            ndim = None
    if ndim is not None and ndim != 2:
        shape = getattr(embeddings, "shape", None) or np.shape(embeddings)
        raise ValueError(
            f"{name} must be 2-D, shape (n_samples, n_features); got {ndim}-D with shape "
            f"{tuple(shape)}. Reshape your data, e.g. .reshape(-1, 1) for a single feature."
        )
    return np.asarray(
        check_array(
            embeddings, dtype=[np.float64, np.float32], input_name=name, ensure_min_samples=1
        )
    )


@dataclass(frozen=True)
class _Targets:
    """Labels, scores and errors at the operating point (internal)."""

    y: BoolArray
    scores: FloatArray
    errors: BoolArray
    threshold: float


@dataclass
class _ClassFit:
    """One class's fitted clustering (internal)."""

    name: str
    members: IntArray
    projection: PCA | None
    model: Any
    keep: IntArray
    k: int
    local: IntArray = field(default_factory=lambda: np.zeros(0, np.intp))
    statistics: ClusterStatistics | None = None
    eligible: BoolArray = field(default_factory=lambda: np.zeros(0, bool))
    n_discovery: IntArray = field(default_factory=lambda: np.zeros(0, np.intp))
    stability: FloatArray = field(default_factory=lambda: np.zeros(0))
    ari: float = float("nan")
    role: list[str] = field(default_factory=list)
    note: str = ""


class BaseDetector(ClusterMixin, BaseEstimator, metaclass=ABCMeta):  # type: ignore[misc]
    """Shared machinery of :class:`KMeansDetector` and :class:`GaussianMixtureDetector`.

    Subclasses define ``__init__`` (storing parameters only) and the hooks
    ``_candidates``, ``_new_model``, ``_criterion``, ``_centers`` and
    ``_assign_among``; everything else — splitting, projection, ranking, inference,
    stability, strata and exemplars — is here.
    """

    # Parameters every subclass stores. Declared ``Any``: like every scikit-learn
    # estimator, a detector accepts whatever is set and validates it in ``fit``.
    rank_by: Any
    holdout: Any
    pca_components: Any
    whiten: Any
    min_cluster_size: Any
    max_fit_samples: Any
    n_resamples: Any
    confidence_level: Any
    correction: Any
    n_stability: Any
    random_state: Any
    name: Any

    # -- hooks each detector implements ----------------------------------------------
    @abstractmethod
    def _candidates(self) -> list[int]:
        """Return the numbers of clusters (components) to try per class."""

    @abstractmethod
    def _new_model(self, k: int, seed: int) -> Any:
        """Return an unfitted clustering model with ``k`` clusters."""

    @abstractmethod
    def _criterion(
        self,
        model: Any,
        fit_data: npt.NDArray[Any],
        fit_labels: IntArray,
        statistics: ClusterStatistics | None,
        eligible: BoolArray,
        seed: int,
    ) -> tuple[float, str]:
        """Score of a candidate clustering (larger is better) and, if NaN, why."""

    @abstractmethod
    def _centers(self, model: Any) -> npt.NDArray[Any]:
        """Return the fitted model's cluster centres."""

    @abstractmethod
    def _assign_among(self, model: Any, data: npt.NDArray[Any], keep: IntArray) -> IntArray:
        """Label ``data`` with positions in ``keep`` (the model's non-empty components)."""

    def _infeasible(self, messages: list[str]) -> bool:
        """Whether a fit's convergence warnings mean the candidate is unusable."""
        return False

    def _validate_specific(self) -> None:
        """Check the subclass's own parameters."""

    def _requires_labels(self) -> bool:
        return False

    def _roles(self, fitted: _ClassFit) -> list[str]:
        """Return a role per cluster of a class for the ``role`` column ("" = none)."""
        return [""] * fitted.k

    # -- parameters -------------------------------------------------------------------
    def _detector_name(self) -> str:
        if self.name is not None:
            return str(self.name)
        return type(self).__name__.removesuffix("Detector").lower()

    def _validate_params(self) -> None:
        check_option(self.rank_by, "rank_by", RANK_BY)
        if self.holdout is not None:
            if isinstance(self.holdout, bool) or not isinstance(self.holdout, numbers.Real):
                raise TypeError(
                    f"holdout must be None or a fraction in (0, 1); got {describe(self.holdout)}."
                )
            if not 0.0 < float(self.holdout) < 1.0:
                raise ValueError(
                    f"holdout must be None or a fraction in (0, 1); got {self.holdout!r}."
                )
        if self.pca_components is not None:
            check_int(self.pca_components, "pca_components", minimum=1)
        if not isinstance(self.whiten, (bool, np.bool_)):
            raise TypeError(f"whiten must be True or False; got {describe(self.whiten)}.")
        size = self.min_cluster_size
        if isinstance(size, str):
            check_option(size, "min_cluster_size", ("auto",))
        elif isinstance(size, bool):
            raise TypeError(
                "min_cluster_size must be 'auto', an int >= 1 or a fraction in (0, 1); "
                f"got {size!r}."
            )
        elif isinstance(size, numbers.Integral):
            check_int(size, "min_cluster_size", minimum=1)
        elif isinstance(size, numbers.Real):
            if not 0.0 < float(size) < 1.0:
                raise ValueError(
                    "min_cluster_size must be 'auto', an int >= 1 or a fraction in (0, 1); "
                    f"got {size!r}."
                )
        else:
            raise TypeError(
                "min_cluster_size must be 'auto', an int >= 1 or a fraction in (0, 1); "
                f"got {describe(size)}."
            )
        if self.max_fit_samples is not None:
            check_int(self.max_fit_samples, "max_fit_samples", minimum=2)
        check_int(self.n_resamples, "n_resamples", minimum=1)
        check_confidence_level(self.confidence_level)
        if self.correction is not None:
            check_option(self.correction, "correction", CORRECTIONS)
        check_int(self.n_stability, "n_stability", minimum=0)
        check_random_state(self.random_state)
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"name must be None or a str; got {describe(self.name)}.")
        self._validate_specific()

    def _min_size(self, n_discovery: int) -> int:
        size = self.min_cluster_size
        if isinstance(size, str):  # "auto": the paper's 100, scaled down for small data
            return min(
                PAPER_MIN_CLUSTER_SIZE, max(SMALL_MIN_CLUSTER_SIZE, math.ceil(0.05 * n_discovery))
            )
        if isinstance(size, numbers.Integral):
            return int(size)
        return max(1, math.ceil(float(size) * n_discovery))

    # -- fitting ----------------------------------------------------------------------
    def fit(
        self,
        embeddings: npt.ArrayLike,
        y: object = None,
        *,
        y_true: npt.ArrayLike | None = None,
        y_score: npt.ArrayLike | None = None,
        threshold: float | None = None,
    ) -> Self:
        """Find, rank and measure clusters of each class's embeddings.

        Parameters
        ----------
        embeddings : array-like of shape (n_samples, n_features)
            The model's features of each case (e.g. its penultimate layer); float32 is
            kept as float32.
        y : None
            Ignored; present for scikit-learn's API (pass labels as ``y_true``).
        y_true : array-like of shape (n_samples,), optional
            Binary labels. Without ``y_true`` and ``y_score`` the detector only clusters
            (one class, ``"all"``) and every performance column is NaN.
        y_score : array-like of shape (n_samples,), optional
            The model's scores; required with ``y_true``.
        threshold : float, optional
            Operating point (``score >= threshold`` is called positive) at which errors
            are counted. Default: Youden's J on all cases
            (:func:`hstrat.metrics.operating_threshold`). :func:`hstrat.evaluate`
            passes its own operating point.

        Returns
        -------
        self
        """
        self._validate_params()
        data = check_embeddings(embeddings)
        n = data.shape[0]
        targets = self._check_targets(n, y_true, y_score, threshold)
        labelled = targets is not None
        if self._requires_labels() and targets is None:
            raise ValueError(
                f"{type(self).__name__}(mode='paper') ranks clusters by error rate and needs "
                "y_true and y_score; got neither."
            )
        rng = check_random_state(self.random_state)
        split_rng, cluster_rng, boot_rng, stability_rng = rng.spawn(4)
        if targets is not None:
            classes = [("negatives", ~targets.y), ("positives", targets.y)]
            class_codes = targets.y.astype(np.intp)
        else:
            classes = [("all", np.ones(n, dtype=bool))]
            class_codes = np.zeros(n, dtype=np.intp)
        if self.holdout is None:
            discovery = np.ones(n, dtype=bool)
            inference = discovery
        else:
            held = holdout_split(class_codes, float(self.holdout), split_rng)
            discovery, inference = ~held, held

        placements = np.full(n, np.nan)
        if targets is not None:
            s = targets.scores
            pos_d, neg_d = targets.y & discovery, ~targets.y & discovery
            placements[pos_d] = placements_against(s[pos_d], s[neg_d], positive=True)
            placements[neg_d] = placements_against(s[neg_d], s[pos_d], positive=False)

        class_rngs = cluster_rng.spawn(len(classes))
        stability_rngs = stability_rng.spawn(len(classes))
        fits: list[_ClassFit] = []
        selection: list[dict[str, Any]] = []
        distances = np.full(n, np.nan)
        width = min(data.shape[1], self.pca_components or data.shape[1])
        for (label, mask), c_rng, s_rng in zip(classes, class_rngs, stability_rngs, strict=True):
            members = np.flatnonzero(mask)
            fit_size = min(len(members), self.max_fit_samples or len(members))
            with limited_threads(fit_size * width):
                fitted, rows, dist = self._fit_class(
                    data,
                    label,
                    members,
                    discovery,
                    placements,
                    None if targets is None else targets.errors,
                    c_rng,
                    s_rng,
                )
            fits.append(fitted)
            selection.extend(rows)
            distances[fitted.members] = dist

        order = self._rank(fits, labelled)
        labels = np.empty(n, dtype=np.intp)
        ids: dict[tuple[int, int], int] = {}
        for cluster_id, (f_index, local) in enumerate(order):
            ids[(f_index, local)] = cluster_id
        for f_index, fitted in enumerate(fits):
            lookup = np.array([ids[(f_index, j)] for j in range(fitted.k)], dtype=np.intp)
            labels[fitted.members] = lookup[fitted.local]

        self.n_features_in_ = data.shape[1]
        self.labels_ = labels
        self.discovery_mask_ = discovery
        self.inference_mask_ = inference
        self.errors_ = None if targets is None else targets.errors
        self.threshold_ = float("nan") if targets is None else targets.threshold
        self.distances_ = distances
        self.n_clusters_ = len(order)
        self.k_ = {f.name: f.k for f in fits}
        self.k_selection_ = pd.DataFrame(
            selection, columns=["class", "k", "criterion", "n_eligible", "chosen", "note"]
        )
        self.class_stability_ = {f.name: f.ari for f in fits}
        finite = [f.ari for f in fits if np.isfinite(f.ari)]
        self.stability_ = float(np.mean(finite)) if finite else float("nan")
        self._fits = fits
        self._order = order
        self.clusters_ = self._cluster_table(fits, order, labels, targets, inference, boot_rng)
        return self

    def _check_targets(self, n: int, y_true: Any, y_score: Any, threshold: Any) -> _Targets | None:
        if y_true is None and y_score is None:
            if threshold is not None:
                raise ValueError(
                    f"threshold is used with y_true and y_score; got threshold={threshold!r} "
                    "without them."
                )
            return None
        if y_true is None or y_score is None:
            missing = "y_true" if y_true is None else "y_score"
            raise ValueError(f"y_true and y_score go together; {missing} is missing.")
        y_bool = check_labels(y_true)
        scores = check_scores(y_score)
        for arg, arr in (("y_true", y_bool), ("y_score", scores)):
            if len(arr) != n:
                raise ValueError(
                    f"{arg} must have one entry per row of embeddings ({n}); got {len(arr)}."
                )
        if y_bool.all() or not y_bool.any():
            kind = "positives" if y_bool.all() else "negatives"
            raise ValueError(f"y_true must contain both classes; got only {kind} ({n} cases).")
        if threshold is None:
            thr = operating_threshold(y_bool, scores)
        else:
            if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
                raise TypeError(f"threshold must be a number or None; got {describe(threshold)}.")
            thr = float(threshold)
            if not np.isfinite(thr):
                raise ValueError(f"threshold must be finite; got {threshold!r}.")
        errors = np.where(y_bool, scores < thr, scores >= thr)
        return _Targets(y_bool, scores, errors, thr)

    def _fit_class(
        self,
        data: npt.NDArray[Any],
        label: str,
        members: IntArray,
        discovery: BoolArray,
        placements: FloatArray,
        errors: BoolArray | None,
        rng: np.random.Generator,
        stability_rng: np.random.Generator,
    ) -> tuple[_ClassFit, list[dict[str, Any]], FloatArray]:
        """Project, choose the clustering, label every member, measure stability."""
        local_disc = np.flatnonzero(discovery[members])
        fit_local = local_disc
        if self.max_fit_samples is not None and len(fit_local) > self.max_fit_samples:
            fit_local = np.sort(rng.choice(fit_local, self.max_fit_samples, replace=False))
        projection = fit_projection(
            data, members[fit_local], self.pca_components, whiten=bool(self.whiten), rng=rng
        )
        z = project(data, members, projection)
        z_fit = z[fit_local]
        disc_rows = members[local_disc]
        min_size = self._min_size(len(local_disc))
        statistics_of: Callable[[IntArray, int], ClusterStatistics] | None = None
        if errors is not None:
            err = errors

            def statistics_of(labels: IntArray, k: int) -> ClusterStatistics:
                return cluster_statistics(placements[disc_rows], err[disc_rows], labels, k)

        model, keep, rows = self._choose(label, z_fit, z[local_disc], statistics_of, min_size, rng)
        k = len(keep)
        if model is None:
            local = np.zeros(len(members), dtype=np.intp)
            centers = z_fit.mean(axis=0, keepdims=True)
        else:
            local = self._assign_among(model, z, keep)
            centers = self._centers(model)[keep]
        dist = np.sqrt(np.sum((z - centers[local]) ** 2, axis=1, dtype=np.float64))
        fitted = _ClassFit(label, members, projection, model, keep, k, local)
        if model is None:
            fitted.note = "too few cases to cluster: the whole class is one cluster"
        disc_labels = local[local_disc]
        fitted.n_discovery = np.bincount(disc_labels, minlength=k).astype(np.intp)
        fitted.eligible = (fitted.n_discovery >= min_size) & (k > 1)
        if statistics_of is not None:
            fitted.statistics = statistics_of(disc_labels, k)
        fitted.role = self._roles(fitted)
        self._stability(fitted, z_fit, local[fit_local], stability_rng)
        return fitted, rows, dist

    def _choose(
        self,
        label: str,
        z_fit: npt.NDArray[Any],
        z_disc: npt.NDArray[Any],
        statistics_of: Callable[[IntArray, int], ClusterStatistics] | None,
        min_size: int,
        rng: np.random.Generator,
    ) -> tuple[Any, IntArray, list[dict[str, Any]]]:
        """Fit every candidate k, score it, keep the best: (model, kept components, rows).

        Ties go to the smaller k; when no candidate can be scored the smallest feasible k
        is kept, and when none is feasible the model is None (one cluster).
        """
        rows: list[dict[str, Any]] = []
        best: tuple[float, Any, IntArray, int] | None = None
        feasible: list[tuple[Any, IntArray, int]] = []
        for k in self._candidates():
            row: dict[str, Any] = {
                "class": label,
                "k": k,
                "criterion": float("nan"),
                "n_eligible": 0,
                "chosen": False,
                "note": "",
            }
            rows.append(row)
            if k > len(z_fit):
                row["note"] = f"more clusters than the {len(z_fit)} cases to fit"
                continue
            seed = int(rng.integers(2**31 - 1))
            model = self._new_model(k, seed)
            messages = fit_capturing_convergence(model, z_fit)
            if self._infeasible(messages):
                row["note"] = "; ".join(messages)
                continue
            if messages:
                row["note"] = "did not converge"
            keep = np.unique(self._assign_among(model, z_fit, np.arange(k)))
            disc_labels = self._assign_among(model, z_disc, keep)
            statistics = None if statistics_of is None else statistics_of(disc_labels, len(keep))
            sizes = np.bincount(disc_labels, minlength=len(keep))
            eligible = sizes >= min_size
            row["n_eligible"] = int(eligible.sum())
            fit_labels = self._assign_among(model, z_fit, keep)
            value, why = self._criterion(model, z_fit, fit_labels, statistics, eligible, seed)
            row["criterion"] = value
            row["note"] = "; ".join(filter(None, [row["note"], why]))
            feasible.append((model, keep, len(rows) - 1))
            if np.isfinite(value) and (best is None or value > best[0]):
                best = (value, model, keep, len(rows) - 1)

        if best is None and feasible:
            model, keep, row_index = feasible[0]
            rows[row_index]["note"] = "; ".join(
                filter(None, [rows[row_index]["note"], "no candidate scored: smallest k kept"])
            )
        elif best is not None:
            _, model, keep, row_index = best
        else:
            model, keep, row_index = None, np.zeros(1, np.intp), -1
        if row_index >= 0:
            rows[row_index]["chosen"] = True
        return model, keep, rows

    def _stability(
        self,
        fitted: _ClassFit,
        z_fit: npt.NDArray[Any],
        fit_labels: IntArray,
        rng: np.random.Generator,
    ) -> None:
        if fitted.model is None or fitted.k < 1:
            fitted.stability = np.full(fitted.k, np.nan)
            return
        k_model = int(self._centers(fitted.model).shape[0])

        def refit(train: npt.NDArray[Any], test: npt.NDArray[Any], seed: int) -> IntArray:
            model = self._new_model(k_model, seed)
            fit_capturing_convergence(model, train)
            return self._assign_among(model, test, np.arange(k_model))

        result = clustering_stability(z_fit, fit_labels, fitted.k, refit, self.n_stability, rng)
        fitted.stability = result.jaccard
        fitted.ari = result.mean_ari

    def _rank(self, fits: list[_ClassFit], labelled: bool) -> list[tuple[int, int]]:
        """Order of all clusters, worst first: (index of class fit, local label)."""
        keys: list[tuple[Any, ...]] = []
        for f_index, fitted in enumerate(fits):
            for j in range(fitted.k):
                if labelled and fitted.statistics is not None:
                    deficit = float(fitted.statistics.deficit(self.rank_by)[j])
                    value = -deficit if np.isfinite(deficit) else np.inf
                else:
                    value = -float(fitted.n_discovery[j])
                keys.append((not bool(fitted.eligible[j]), value, f_index, j))
        keys.sort()
        return [(key[2], key[3]) for key in keys]

    def _cluster_table(
        self,
        fits: list[_ClassFit],
        order: list[tuple[int, int]],
        labels: IntArray,
        targets: _Targets | None,
        inference: BoolArray,
        rng: np.random.Generator,
    ) -> pd.DataFrame:
        nan = float("nan")
        mode = "exploratory" if self.holdout is None else "holdout"
        records: list[dict[str, Any]] = []
        strata: list[Stratum] = []
        for cluster_id, (f_index, j) in enumerate(order):
            fitted = fits[f_index]
            st = fitted.statistics
            members = labels == cluster_id
            note = fitted.note
            if not fitted.eligible[j] and fitted.k > 1:
                note = "; ".join(filter(None, [note, "below min_cluster_size: not tested"]))
            elif fitted.k == 1 and not note:
                note = "the whole class is one cluster: not tested"
            records.append(
                {
                    "cluster": cluster_id,
                    "name": f"{_PREFIX[fitted.name]}:c{cluster_id}",
                    "class": fitted.name,
                    "role": fitted.role[j],
                    "eligible": bool(fitted.eligible[j]),
                    "n": int((members & inference).sum()),
                    "n_discovery": int(fitted.n_discovery[j]),
                    "discovery_auc": nan if st is None else float(st.auc[j]),
                    "discovery_auc_diff": nan if st is None else float(st.auc_diff[j]),
                    "discovery_error_rate": nan if st is None else float(st.error_rate[j]),
                    "discovery_error_rate_diff": nan
                    if st is None
                    else float(st.error_rate_diff[j]),
                    "stability": float(fitted.stability[j]),
                    "inference": mode,
                    "note": note,
                }
            )
            strata.append(
                Stratum(
                    members & inference,
                    fitted.name,
                    name=records[-1]["name"],
                    variable=self._detector_name(),
                    level=cluster_id,
                    labelled=inference,
                )
            )
        self._strata = strata
        table = pd.DataFrame.from_records(records)
        tested = table["eligible"].to_numpy(dtype=bool) if len(table) else np.zeros(0, bool)
        if targets is not None:
            stats_table = cluster_inference(
                targets.y,
                targets.scores,
                targets.errors,
                strata,
                tested,
                n_resamples=self.n_resamples,
                confidence_level=float(self.confidence_level),
                correction=self.correction,
                rng=rng,
            )
            for column in INFERENCE_COLUMNS[:-1]:
                table[column] = stats_table[column].to_numpy()
            table["note"] = [
                "; ".join(filter(None, [a, b]))
                for a, b in zip(table["note"], stats_table["note"], strict=True)
            ]
        else:
            for column in INFERENCE_COLUMNS[:-1]:
                table[column] = nan
            table["n_pos"] = 0
            table["n_neg"] = 0
            table["n_errors"] = 0
        return table[CLUSTER_COLUMNS]

    # -- using a fitted detector ---------------------------------------------------------
    def predict(
        self, embeddings: npt.ArrayLike, *, y_true: npt.ArrayLike | None = None
    ) -> IntArray:
        """Assign new cases to the fitted clusters.

        Each case is projected with its class's PCA and given the nearest cluster of its
        class (k-means) or the most probable component (mixture).

        Parameters
        ----------
        embeddings : array-like of shape (n_samples, n_features)
            Features of the new cases.
        y_true : array-like of shape (n_samples,), optional
            Their labels; required when the detector was fitted with labels, since the
            clusters are per class.

        Returns
        -------
        numpy.ndarray of int
            Cluster ids (as in ``labels_`` and ``clusters_["cluster"]``).

        Examples
        --------
        >>> import numpy as np
        >>> from hstrat.detect import KMeansDetector
        >>> rng = np.random.default_rng(0)
        >>> y = np.r_[np.ones(200, bool), np.zeros(200, bool)]
        >>> E = rng.normal(size=(400, 3)) + 4.0 * (np.arange(400) < 50)[:, None]
        >>> s = rng.normal(size=400) + y - 2.0 * (np.arange(400) < 50)
        >>> det = KMeansDetector(n_resamples=100, n_stability=0, random_state=0)
        >>> det = det.fit(E, y_true=y, y_score=s)
        >>> bool((det.predict(E, y_true=y) == det.labels_).all())
        True
        """
        check_is_fitted(self, "labels_")
        data = check_embeddings(embeddings)
        if data.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {data.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (embeddings)."
            )
        n = data.shape[0]
        fitted_labelled = self._fits[0].name != "all"
        if fitted_labelled and y_true is None:
            raise ValueError(
                "y_true is required: this detector was fitted with labels and its clusters "
                "are per class."
            )
        if not fitted_labelled and y_true is not None:
            raise ValueError("y_true must be None: this detector was fitted without labels.")
        masks: list[BoolArray]
        if fitted_labelled:
            y_bool = check_labels(y_true)
            if len(y_bool) != n:
                raise ValueError(
                    f"y_true must have one entry per row of embeddings ({n}); got {len(y_bool)}."
                )
            masks = [~y_bool, y_bool]
        else:
            masks = [np.ones(n, dtype=bool)]
        ids: dict[tuple[int, int], int] = {key: i for i, key in enumerate(self._order)}
        out = np.empty(n, dtype=np.intp)
        for f_index, (fitted, mask) in enumerate(zip(self._fits, masks, strict=True)):
            rows = np.flatnonzero(mask)
            if not len(rows):
                continue
            if fitted.model is None:
                local = np.zeros(len(rows), dtype=np.intp)
            else:
                z = project(data, rows, fitted.projection)
                with limited_threads(z.size):
                    local = self._assign_among(fitted.model, z, fitted.keep)
            lookup = np.array([ids[(f_index, j)] for j in range(fitted.k)], dtype=np.intp)
            out[rows] = lookup[local]
        return out

    def to_strata(self, top: int | None = None) -> list[Stratum]:
        """Return the eligible clusters as strata for :func:`hstrat.evaluate`, worst first.

        Each stratum is named ``"pos:c<id>"`` (or ``"neg:"``), has ``variable`` = the
        detector's name and ``level`` = the cluster id, and an explicit population
        (``"positives"`` or ``"negatives"``). Its mask holds the cluster's **held-out**
        members and ``labelled`` the held-out cases, so that the complement it is
        compared with is the rest of its class among the held-out cases; the discovery
        cases count as unlabelled for it. With ``holdout=None`` both cover every case.

        Parameters
        ----------
        top : int, optional
            Return only the ``top`` worst eligible clusters.

        Returns
        -------
        list of Stratum

        Examples
        --------
        >>> import numpy as np
        >>> from hstrat.detect import KMeansDetector
        >>> rng = np.random.default_rng(0)
        >>> y = np.r_[np.ones(200, bool), np.zeros(200, bool)]
        >>> E = rng.normal(size=(400, 3)) + 4.0 * (np.arange(400) < 50)[:, None]
        >>> s = rng.normal(size=400) + y - 2.0 * (np.arange(400) < 50)
        >>> det = KMeansDetector(n_resamples=100, n_stability=0, random_state=0)
        >>> det = det.fit(E, y_true=y, y_score=s)
        >>> det.to_strata(top=1)
        [Stratum(name='pos:c0', population='positives', n=23 of 400)]
        """
        check_is_fitted(self, "labels_")
        if top is not None:
            top = check_int(top, "top", minimum=1)
        eligible = self.clusters_["eligible"].to_numpy(dtype=bool)
        chosen = [s for s, ok in zip(self._strata, eligible, strict=True) if ok]
        return chosen if top is None else chosen[:top]

    def exemplars(self, k: int = 5) -> pd.DataFrame:
        """Cases to review per cluster: the ``k`` nearest its centre, and its ``k`` nearest errors.

        Distances are Euclidean in the class's PCA space, to the cluster's centroid
        (k-means) or component mean (mixture). Both discovery and held-out members are
        candidates; ``discovery`` says which part a case came from.

        Parameters
        ----------
        k : int, default 5
            Cases of each kind per cluster.

        Returns
        -------
        pandas.DataFrame
            Columns ``cluster, name, class, kind, position, distance, is_error,
            discovery``; ``kind`` is ``"central"`` or ``"error"`` (errors only when
            fitted with labels), ``position`` indexes the rows of the fitted
            embeddings. Clusters in rank order, nearest first.

        Examples
        --------
        >>> import numpy as np
        >>> from hstrat.detect import KMeansDetector
        >>> rng = np.random.default_rng(0)
        >>> y = np.r_[np.ones(200, bool), np.zeros(200, bool)]
        >>> E = rng.normal(size=(400, 3)) + 4.0 * (np.arange(400) < 50)[:, None]
        >>> s = rng.normal(size=400) + y - 2.0 * (np.arange(400) < 50)
        >>> det = KMeansDetector(n_resamples=100, n_stability=0, random_state=0)
        >>> det = det.fit(E, y_true=y, y_score=s)
        >>> det.exemplars(k=2)[["name", "kind", "is_error"]].head(4)
             name     kind  is_error
        0  pos:c0  central      True
        1  pos:c0  central      True
        2  pos:c0    error      True
        3  pos:c0    error      True
        """
        check_is_fitted(self, "labels_")
        k = check_int(k, "k", minimum=1)
        return exemplar_table(
            self.clusters_, self.labels_, self.distances_, self.errors_, self.discovery_mask_, k
        )
