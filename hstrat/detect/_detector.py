"""ClusterDetector: find and split candidate failing subclasses with any clusterer.

A detector looks for **unlabelled subclasses on which the model is worse**: it clusters
the model's embeddings of each class separately (a subclass is a subclass *of a
label*) and ranks the clusters by how much worse the model is on them. Its steps:

1. **Split** each class at random into a *discovery* part and a *held-out* part
   (``holdout``, default 40%; :mod:`hstrat.detect._split`). ``holdout=None`` uses
   every case for both: an *exploratory* fit, whose measurements are biased by selection.
2. **Project** each class's embeddings on their principal components, fitted on its
   discovery cases (:mod:`hstrat.detect._projection`).
3. **Cluster** each class's discovery cases with the clusterer for every candidate number
   of clusters, and keep the one the ``criterion`` prefers; every case of the class is
   then assigned by the clusterer's ``predict``.
4. **Rank** the clusters of both classes on the discovery cases, worst first
   (:mod:`hstrat.detect._discovery`). Cluster ids are these ranks.
5. **Check stability** by refitting on bootstrap resamples (:mod:`hstrat.detect._stability`).

It does not measure: :meth:`ClusterDetector.to_strata` hands each cluster's **held-out**
members to :func:`hstrat.evaluate`, which computes their AUC, interval and test with the
same code as every other stratum. Clusters are *chosen* for looking bad; measured on the
cases that chose them they look worse than they are, while measured on cases that played
no part in finding or ranking them they are pre-specified subgroups, and the usual
intervals and tests hold.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted
from typing_extensions import Self

from .._parallel import check_n_jobs, threads_for
from .._stratum import Stratum
from .._validation import (
    RandomState,
    check_int,
    check_labels,
    check_option,
    check_random_state,
    check_scores,
    describe,
)
from ..metrics._threshold import resolve_threshold
from ._convergence import fit_capturing_convergence
from ._discovery import (
    CRITERIA,
    ClusterStatistics,
    cluster_statistics,
    placements_against,
    rank_order,
    ranking_metric,
    sampled_silhouette,
    selection_value,
)
from ._exemplars import EXEMPLAR_COLUMNS, exemplar_table
from ._projection import fit_projection, project
from ._split import holdout_split
from ._stability import clustering_stability

__all__ = ["CLUSTER_COLUMNS", "EXEMPLAR_COLUMNS", "ClusterDetector"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

#: Paper's minimum cluster size (Oakden-Rayner et al. 2020) and the floor used when
#: scaling it down for small data.
PAPER_MIN_CLUSTER_SIZE = 100
SMALL_MIN_CLUSTER_SIZE = 10
#: ... and the share of a class's discovery cases it is scaled to (5% missed subclasses
#: of 5% of a class on the benchmark: half of them fell below it).
AUTO_MIN_SHARE = 0.03

#: Columns of ``clusters_``: what the detector knows. The held-out AUC, interval and
#: test of a cluster are columns of ``hstrat.evaluate``'s report, not of this table.
CLUSTER_COLUMNS = [
    "cluster",
    "name",
    "class",
    "eligible",
    "n",
    "n_discovery",
    "prevalence",
    "discovery_auc",
    "discovery_auc_diff",
    "discovery_error_rate",
    "discovery_error_rate_diff",
    "discovery_z",
    "stability",
    "inference",
    "note",
]
_PREFIX = {"negatives": "neg", "positives": "pos", "all": "all"}
_MIN_SIZE_MESSAGE = "min_cluster_size must be 'auto', an int >= 1 or a fraction in (0, 1)"


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


@dataclass
class _ClassFit:
    """One class's fitted clustering (internal)."""

    name: str
    members: IntArray
    projection: PCA | None
    model: Any = None
    codes: IntArray = field(default_factory=lambda: np.zeros(1, np.intp))  # component ids
    local: IntArray = field(default_factory=lambda: np.zeros(0, np.intp))  # per member
    statistics: ClusterStatistics | None = None
    eligible: BoolArray = field(default_factory=lambda: np.zeros(1, bool))
    stability: FloatArray = field(default_factory=lambda: np.full(1, np.nan))
    ari: float = float("nan")
    note: str = ""

    @property
    def k(self) -> int:
        return len(self.codes)


class ClusterDetector(ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """Find subclasses on which a model fails by clustering its embeddings, per class.

    The "algorithmic measurement" of Oakden-Rayner et al. (2020) with any scikit-learn
    clusterer that has ``fit`` and ``predict`` and an ``n_clusters`` or ``n_components``
    parameter (:class:`~sklearn.cluster.KMeans`, :class:`~sklearn.mixture.GaussianMixture`,
    :class:`~sklearn.mixture.BayesianGaussianMixture`, ...). Each class's embeddings are
    projected on their first ``pca_components`` principal components and clustered for
    every candidate number of clusters; the ``criterion`` keeps one per class:

    * ``"auc"`` (default): the number at which the worst eligible cluster is *most
      clearly* worse than the rest of its class (the largest AUC deficit in standard
      errors). That cluster leads its class; leaders come first, ordered by their AUC
      deficit, then every other cluster by its deficit.
    * ``"error_rate"``: the same with the error rate at the operating point.
    * ``"paper"``: the paper's procedure — the number whose highest- and lowest-error
      eligible clusters are farthest apart; clusters ranked by error rate.
    * ``"silhouette"`` or ``"bic"`` (mixtures): structure only, as GEORGE (Sohoni et al.
      2020) chooses; clusters ranked by AUC deficit.

    Everything that chooses — the numbers of clusters, the clusters, their order — sees
    only the discovery cases (``holdout``); :meth:`to_strata` gives each cluster's
    held-out members to :func:`hstrat.evaluate`, which measures them. Without labels
    (``fit(embeddings)``) the number of clusters is chosen by the silhouette (or BIC).
    The recovery of planted subclasses by each criterion and clusterer, against three
    published baselines, is in the guide and ``benchmarks/bench_discovery.py``.

    Parameters
    ----------
    clusterer : estimator, optional
        Cloned for every fit; its ``n_clusters`` (or ``n_components``) and
        ``random_state`` are set by the detector. Default ``KMeans(n_init=3)``.
    n_clusters : int or sequence of int, default (2, 3, 4, 5)
        Candidate numbers of clusters per class (the paper's 2-5).
    criterion : {"auc", "error_rate", "paper", "silhouette", "bic"}, default "auc"
        How the number of clusters is chosen and the clusters ranked (see above).
    holdout : float or None, default 0.4
        Fraction of each class held out to measure the clusters (0.4 found the failing
        subclass more often than 0.5 on the benchmark, with intervals about 12% wider).
        ``None`` finds, ranks and measures on the same cases: **exploratory** only.
    pca_components : int or None, default 50
        Principal components kept per class (``None``: cluster the raw embeddings).
    whiten : bool, default False
        Scale the components to unit variance before clustering.
    min_cluster_size : "auto", int or float, default "auto"
        Smallest cluster (discovery cases) that may be chosen, ranked first and handed to
        evaluate. ``"auto"`` is the paper's 100, scaled down for small data:
        ``min(100, max(10, 3% of the class's discovery cases))``. A float is a fraction
        of those cases.
    max_fit_samples : int or None, default 20000
        The clusterer (and its stability refits) is fitted on at most this many discovery
        cases per class; every case is then assigned by its ``predict``.
    n_stability : int, default 10
        Bootstrap refits for the stability columns (0 disables them).
    n_jobs : int or None, default None
        Refits run at once, by hstrat's one rule for parallel work
        (:mod:`hstrat._parallel`): the same clusters and columns for every value.
    random_state : int, numpy.random.Generator or None
        Seed of the split, the clusterer and the refits: the same seed, the same clusters.
    name : str, optional
        Name in reports; default: the clusterer's class in lower case (``"kmeans"``).

    Attributes
    ----------
    labels_ : numpy.ndarray of int, shape (n_samples,)
        Cluster id of every case; ids are ranks (0 = worst), unique across classes.
    clusters_ : pandas.DataFrame
        One row per cluster, worst first, with :data:`CLUSTER_COLUMNS`: ``n`` held-out
        and ``n_discovery`` discovery members, ``prevalence`` (the cluster's share of its
        class), the discovery statistics the ranking saw (``discovery_z`` is the deficit
        in standard errors), ``stability`` (mean best-match Jaccard over refits: below
        0.5 a cluster dissolves, above 0.75 it is stable; Hennig 2007), ``inference``
        (``holdout`` or ``exploratory``) and a ``note``.
    k_ : dict
        Chosen number of clusters per class.
    k_selection_ : pandas.DataFrame
        Every candidate per class: ``class, k, criterion, n_eligible, chosen, note``.
    stability_ : float
        Mean adjusted Rand index of the refits with the original clustering, over classes
        (per class in ``class_stability_``; NaN with ``n_stability=0``).
    discovery_mask_, inference_mask_ : numpy.ndarray of bool
        Cases used to find and rank the clusters, and held out to measure them.
    errors_ : numpy.ndarray of bool or None
        Misclassified at the operating point ``threshold_`` (None without labels).
    distances_ : numpy.ndarray of float
        Distance of each case to its cluster's mean, in its class's PCA space.
    n_clusters_, n_features_in_ : int
        Number of clusters over all classes; width of the embeddings.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from hstrat.detect import ClusterDetector
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(400, bool), np.zeros(400, bool)]
    >>> hidden = np.r_[np.arange(400) < 80, np.zeros(400, bool)]  # a fifth of positives
    >>> E = rng.normal(size=(800, 8)) + 6.0 * hidden[:, None] * np.eye(8)[0]
    >>> s = rng.normal(size=800) + 2.0 * y - 2.0 * hidden
    >>> det = ClusterDetector(GaussianMixture(), n_stability=2, random_state=0)
    >>> det = det.fit(E, y_true=y, y_score=s)
    >>> top = det.clusters_.iloc[0]
    >>> top["name"], top["class"], int(top["n"])  # n: held-out members
    ('pos:c0', 'positives', 29)
    >>> float(np.mean(hidden[det.labels_ == 0]))  # precision for the hidden subclass
    1.0
    >>> det.to_strata(top=1)
    [Stratum(name='pos:c0', population='positives', n=29 of 800)]
    """

    # Declared Any: like every scikit-learn estimator, a detector accepts whatever is set
    # and validates it in fit.
    holdout: Any
    min_cluster_size: Any
    whiten: Any
    name: Any

    def __init__(
        self,
        clusterer: Any = None,
        n_clusters: int | Sequence[int] = (2, 3, 4, 5),
        *,
        criterion: str = "auc",
        holdout: float | None = 0.4,
        pca_components: int | None = 50,
        whiten: bool = False,
        min_cluster_size: int | float | str = "auto",
        max_fit_samples: int | None = 20_000,
        n_stability: int = 10,
        n_jobs: int | None = None,
        random_state: RandomState = None,
        name: str | None = None,
    ) -> None:
        self.clusterer = clusterer
        self.n_clusters = n_clusters
        self.criterion = criterion
        self.holdout = holdout
        self.pca_components = pca_components
        self.whiten = whiten
        self.min_cluster_size = min_cluster_size
        self.max_fit_samples = max_fit_samples
        self.n_stability = n_stability
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.name = name

    # -- parameters -------------------------------------------------------------------
    def _base_clusterer(self) -> Any:
        """Return the unfitted clusterer (presets build theirs from their own parameters)."""
        return KMeans(n_init=3) if self.clusterer is None else self.clusterer

    #: The parameter that holds the candidate numbers of clusters.
    _candidates_param = "n_clusters"

    def _candidates(self) -> list[int]:
        name = self._candidates_param
        value: Any = getattr(self, name)
        if not isinstance(value, bool) and isinstance(value, numbers.Integral):
            return [check_int(value, name, minimum=1)]
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
            raise TypeError(
                f"{name} must be an int or a non-empty sequence of ints; got {describe(value)}."
            )
        return sorted({check_int(v, name, minimum=1) for v in value})

    def _detector_name(self) -> str:
        if self.name is not None:
            return str(self.name)
        return type(self._base_clusterer()).__name__.lower()

    def _validate(self) -> tuple[Any, str, list[int]]:
        """Check every parameter; return the clusterer, its size parameter, the candidates."""
        base = self._base_clusterer()
        params = base.get_params() if hasattr(base, "get_params") else {}
        size_param = next((p for p in ("n_clusters", "n_components") if p in params), None)
        if size_param is None or not callable(getattr(base, "predict", None)):
            raise TypeError(
                "clusterer must be a scikit-learn clusterer with fit, predict and an "
                f"n_clusters or n_components parameter; got {describe(base)}."
            )
        check_option(self.criterion, "criterion", CRITERIA)
        if self.criterion == "bic" and not callable(getattr(base, "bic", None)):
            raise TypeError(f"criterion='bic' needs a mixture with bic(); got {describe(base)}.")
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
        elif isinstance(size, bool) or not isinstance(size, numbers.Real):
            raise TypeError(f"{_MIN_SIZE_MESSAGE}; got {describe(size)}.")
        elif isinstance(size, numbers.Integral):
            check_int(size, "min_cluster_size", minimum=1)
        elif not 0.0 < float(size) < 1.0:
            raise ValueError(f"{_MIN_SIZE_MESSAGE}; got {size!r}.")
        if self.max_fit_samples is not None:
            check_int(self.max_fit_samples, "max_fit_samples", minimum=2)
        check_int(self.n_stability, "n_stability", minimum=0)
        check_n_jobs(self.n_jobs)
        check_random_state(self.random_state)
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"name must be None or a str; got {describe(self.name)}.")
        return base, size_param, self._candidates()

    def _min_size(self, n_discovery: int) -> int:
        size = self.min_cluster_size
        if isinstance(size, str):  # "auto": the paper's 100, scaled down for small data
            return min(
                PAPER_MIN_CLUSTER_SIZE,
                max(SMALL_MIN_CLUSTER_SIZE, math.ceil(AUTO_MIN_SHARE * n_discovery)),
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
        """Find and rank clusters of each class's embeddings, and split their members.

        Parameters
        ----------
        embeddings : array-like of shape (n_samples, n_features)
            The model's features of each case (e.g. its penultimate layer); float32 is
            kept as float32.
        y : None
            Ignored; present for scikit-learn's API (pass labels as ``y_true``).
        y_true : array-like of shape (n_samples,), optional
            Binary labels. Without ``y_true`` and ``y_score`` the detector only clusters
            (one class, ``"all"``) and the discovery statistics are NaN.
        y_score : array-like of shape (n_samples,), optional
            The model's scores; required with ``y_true``.
        threshold : float, optional
            Operating point (``score >= threshold`` is called positive) at which errors
            are counted. Default: Youden's J on all cases
            (:func:`hstrat.metrics.operating_threshold`); :func:`hstrat.evaluate` passes
            its own.

        Returns
        -------
        self
        """
        base, size_param, candidates = self._validate()
        data = check_embeddings(embeddings)
        n = data.shape[0]
        y_bool, scores, thr = self._check_targets(n, y_true, y_score, threshold)
        rng = check_random_state(self.random_state)
        split_rng, cluster_rng, stability_rng = rng.spawn(3)
        labelled = y_bool is not None
        if y_bool is not None:
            classes = [("negatives", ~y_bool), ("positives", y_bool)]
            codes = y_bool.astype(np.intp)
        else:
            classes = [("all", np.ones(n, dtype=bool))]
            codes = np.zeros(n, dtype=np.intp)
        if self.holdout is None:
            inference = np.ones(n, dtype=bool)
            discovery = inference
        else:
            inference = holdout_split(codes, float(self.holdout), split_rng)
            discovery = ~inference
        errors: BoolArray | None = None
        placements = np.full(n, np.nan)
        if y_bool is not None and scores is not None:
            errors = np.where(y_bool, scores < thr, scores >= thr)
            pos, neg = discovery & y_bool, discovery & ~y_bool
            placements[pos] = placements_against(scores[pos], scores[neg], positive=True)
            placements[neg] = placements_against(scores[neg], scores[pos], positive=False)

        fits: list[_ClassFit] = []
        selection: list[dict[str, Any]] = []
        distances = np.full(n, np.nan)
        width = min(data.shape[1], self.pca_components or data.shape[1])
        rngs = zip(cluster_rng.spawn(len(classes)), stability_rng.spawn(len(classes)), strict=True)
        for (label, mask), (c_rng, s_rng) in zip(classes, rngs, strict=True):
            members = np.flatnonzero(mask)
            fit_size = min(len(members), self.max_fit_samples or len(members))
            with threads_for(fit_size * width):
                fitted, rows, dist = self._fit_class(
                    data, label, members, discovery, placements, errors,
                    (base, size_param, candidates), c_rng, s_rng,
                )  # fmt: skip
            fits.append(fitted)
            selection.extend(rows)
            distances[members] = dist

        metric = ranking_metric(self.criterion)
        leads = self.criterion in ("auc", "error_rate", "paper") and labelled
        order = rank_order(
            [
                f.statistics.deficit(metric) if f.statistics is not None and labelled
                else np.bincount(f.local[discovery[f.members]], minlength=f.k).astype(float)
                for f in fits
            ],
            [f.eligible for f in fits],
            [_leader(f, self.criterion) if leads else -1 for f in fits],
        )  # fmt: skip
        labels = np.empty(n, dtype=np.intp)
        self._lookup = [np.empty(f.k, dtype=np.intp) for f in fits]
        for cluster_id, (f_index, j) in enumerate(order):
            self._lookup[f_index][j] = cluster_id
        for f_index, fitted in enumerate(fits):
            labels[fitted.members] = self._lookup[f_index][fitted.local]

        self.n_features_in_ = data.shape[1]
        self.labels_ = labels
        self.discovery_mask_ = discovery
        self.inference_mask_ = inference
        self.errors_ = errors
        self.threshold_ = thr
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
        self.clusters_ = self._cluster_table(fits, order, metric)
        return self

    def _check_targets(
        self, n: int, y_true: Any, y_score: Any, threshold: Any
    ) -> tuple[BoolArray | None, FloatArray | None, float]:
        if y_true is None and y_score is None:
            if threshold is not None:
                raise ValueError(
                    f"threshold is used with y_true and y_score; got threshold={threshold!r} "
                    "without them."
                )
            return None, None, float("nan")
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
        return y_bool, scores, resolve_threshold(threshold or "youden", y_bool, scores)[0]

    def _new_model(self, base: Any, size_param: str, k: int, seed: int) -> Any:
        model = clone(base).set_params(**{size_param: k})
        if "random_state" in model.get_params():
            model.set_params(random_state=seed)
        return model

    def _fit_class(
        self,
        data: npt.NDArray[Any],
        label: str,
        members: IntArray,
        discovery: BoolArray,
        placements: FloatArray,
        errors: BoolArray | None,
        clusterer: tuple[Any, str, list[int]],
        rng: np.random.Generator,
        stability_rng: np.random.Generator,
    ) -> tuple[_ClassFit, list[dict[str, Any]], FloatArray]:
        """Project, choose the clustering, label every member, measure stability."""
        base, size_param, candidates = clusterer
        local_disc = np.flatnonzero(discovery[members])
        fit_local = local_disc
        if self.max_fit_samples is not None and len(fit_local) > self.max_fit_samples:
            fit_local = np.sort(rng.choice(fit_local, self.max_fit_samples, replace=False))
        projection = fit_projection(
            data, members[fit_local], self.pca_components, whiten=bool(self.whiten), rng=rng
        )
        z = project(data, members, projection)
        disc_rows = members[local_disc]
        min_size = self._min_size(len(local_disc))
        fitted = _ClassFit(label, members, projection, local=np.zeros(len(members), np.intp))
        rows: list[dict[str, Any]] = []
        best: tuple[float, int] | None = None
        scored: list[tuple[Any, IntArray, IntArray, ClusterStatistics | None, int]] = []
        for k in candidates:
            row: dict[str, Any] = {"class": label, "k": k, "criterion": np.nan,
                                   "n_eligible": 0, "chosen": False, "note": ""}  # fmt: skip
            rows.append(row)
            if k > len(fit_local):
                row["note"] = f"more clusters than the {len(fit_local)} cases to fit"
                continue
            seed = int(rng.integers(2**31 - 1))
            model = self._new_model(base, size_param, k, seed)
            messages = fit_capturing_convergence(model, z[fit_local])
            row["note"] = "; ".join(messages)
            codes, local = np.unique(np.asarray(model.predict(z)), return_inverse=True)
            local = local.astype(np.intp)
            statistics = None
            if errors is not None:
                statistics = cluster_statistics(
                    placements[disc_rows], errors[disc_rows], local[local_disc], len(codes)
                )
            eligible = (np.bincount(local[local_disc], minlength=len(codes)) >= min_size) & (
                len(codes) > 1
            )
            row["n_eligible"] = int(eligible.sum())
            value, why = self._score(
                model, z[fit_local], local[fit_local], statistics, eligible, seed
            )
            row["criterion"] = value
            row["note"] = "; ".join(filter(None, [row["note"], why]))
            scored.append((model, codes, local, statistics, len(rows) - 1))
            if np.isfinite(value) and (best is None or value > best[0]):
                best = (value, len(scored) - 1)
        if scored:
            model, codes, local, statistics, row_index = scored[0 if best is None else best[1]]
            if best is None:
                rows[row_index]["note"] = "; ".join(
                    filter(None, [rows[row_index]["note"], "no candidate scored: smallest k kept"])
                )
            rows[row_index]["chosen"] = True
            fitted.model, fitted.codes, fitted.local, fitted.statistics = (
                model, codes, local, statistics,
            )  # fmt: skip
        else:
            fitted.note = "too few cases to cluster: the whole class is one cluster"
        n_discovery = np.bincount(fitted.local[local_disc], minlength=fitted.k)
        held = fitted.local[~discovery[members]] if self.holdout is not None else fitted.local
        # a candidate needs a held-out case to be measured (sizes only: no outcome is seen)
        fitted.eligible = (n_discovery >= min_size) & (np.bincount(held, minlength=fitted.k) > 0)
        fitted.eligible &= fitted.k > 1
        if fitted.statistics is None and errors is not None:  # one cluster: still described
            fitted.statistics = cluster_statistics(
                placements[disc_rows], errors[disc_rows], fitted.local[local_disc], fitted.k
            )
        centers = np.stack(
            [
                z[fit_local][fitted.local[fit_local] == j].mean(axis=0)
                if (fitted.local[fit_local] == j).any()
                else z[fitted.local == j].mean(axis=0)
                for j in range(fitted.k)
            ]
        )
        dist = np.sqrt(np.sum((z - centers[fitted.local]) ** 2, axis=1, dtype=np.float64))
        if fitted.model is not None:
            k_model = int(fitted.model.get_params()[size_param])

            def refit(train: npt.NDArray[Any], test: npt.NDArray[Any], seed: int) -> IntArray:
                model = self._new_model(base, size_param, k_model, seed)
                fit_capturing_convergence(model, train)
                return np.asarray(model.predict(test), dtype=np.intp)

            result = clustering_stability(
                z[fit_local], fitted.local[fit_local], fitted.k, refit, self.n_stability,
                stability_rng, n_jobs=self.n_jobs,
            )  # fmt: skip
            fitted.stability, fitted.ari = result.jaccard, result.mean_ari
        return fitted, rows, dist

    def _score(
        self,
        model: Any,
        fit_data: npt.NDArray[Any],
        fit_labels: IntArray,
        statistics: ClusterStatistics | None,
        eligible: BoolArray,
        seed: int,
    ) -> tuple[float, str]:
        """Score of a candidate clustering (larger is better) and, if NaN, why."""
        if self.criterion == "bic":
            # A component fitted on fewer cases than its covariance has free dimensions
            # is singular and its likelihood unbounded: BIC would reward it.
            full = getattr(model, "covariance_type", "full") == "full"
            needed = fit_data.shape[1] + 1 if full else 2
            if np.bincount(fit_labels).min(initial=needed) < needed:
                return float("nan"), f"a component has fewer than {needed} cases: not scored"
            return -float(model.bic(np.asarray(fit_data, dtype=np.float64))), ""
        if statistics is None or self.criterion == "silhouette":
            return sampled_silhouette(fit_data, fit_labels, seed)
        return selection_value(statistics, eligible, self.criterion)

    def _cluster_table(
        self, fits: list[_ClassFit], order: list[tuple[int, int]], metric: str
    ) -> pd.DataFrame:
        nan = float("nan")
        records: list[dict[str, Any]] = []
        self._strata = []
        for cluster_id, (f_index, j) in enumerate(order):
            fitted = fits[f_index]
            st = fitted.statistics
            members = self.labels_ == cluster_id
            note = fitted.note
            if fitted.k == 1 and not note:
                note = "the whole class is one cluster: not a candidate"
            elif not fitted.eligible[j] and fitted.k > 1:
                note = "below min_cluster_size (or no held-out case): not a candidate"
            name = f"{_PREFIX[fitted.name]}:c{cluster_id}"
            records.append(
                {
                    "cluster": cluster_id,
                    "name": name,
                    "class": fitted.name,
                    "eligible": bool(fitted.eligible[j]),
                    "n": int((members & self.inference_mask_).sum()),
                    "n_discovery": int((members & self.discovery_mask_).sum()),
                    "prevalence": float(members.sum() / len(fitted.members)),
                    "discovery_auc": nan if st is None else float(st.auc[j]),
                    "discovery_auc_diff": nan if st is None else float(st.auc_diff[j]),
                    "discovery_error_rate": nan if st is None else float(st.error_rate[j]),
                    "discovery_error_rate_diff": nan
                    if st is None
                    else float(st.error_rate_diff[j]),
                    "discovery_z": nan if st is None else float(st.deficit_z(metric)[j]),
                    "stability": float(fitted.stability[j]) if fitted.model is not None else nan,
                    "inference": "exploratory" if self.holdout is None else "holdout",
                    "note": note,
                }
            )
            self._strata.append(
                Stratum(
                    members & self.inference_mask_,
                    fitted.name,
                    name=name,
                    variable=self._detector_name(),
                    level=cluster_id,
                    labelled=self.inference_mask_,
                )
            )
        return pd.DataFrame.from_records(records, columns=CLUSTER_COLUMNS)

    # -- using a fitted detector ---------------------------------------------------------
    def predict(
        self, embeddings: npt.ArrayLike, *, y_true: npt.ArrayLike | None = None
    ) -> IntArray:
        """Assign new cases to the fitted clusters of their class.

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
            Cluster ids (as in ``labels_``); -1 for a case the clusterer puts in a
            component that held none of the fitted cases.

        Examples
        --------
        >>> import numpy as np
        >>> from hstrat.detect import KMeansDetector
        >>> rng = np.random.default_rng(0)
        >>> y = np.r_[np.ones(200, bool), np.zeros(200, bool)]
        >>> E = rng.normal(size=(400, 3)) + 4.0 * (np.arange(400) < 50)[:, None]
        >>> s = rng.normal(size=400) + y - 2.0 * (np.arange(400) < 50)
        >>> det = KMeansDetector(n_stability=0, random_state=0).fit(E, y_true=y, y_score=s)
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
        masks = [np.ones(n, dtype=bool)]
        if fitted_labelled:
            y_bool = check_labels(y_true)
            if len(y_bool) != n:
                raise ValueError(
                    f"y_true must have one entry per row of embeddings ({n}); got {len(y_bool)}."
                )
            masks = [~y_bool, y_bool]
        out = np.full(n, -1, dtype=np.intp)
        for fitted, lookup, mask in zip(self._fits, self._lookup, masks, strict=True):
            rows = np.flatnonzero(mask)
            if not len(rows):
                continue
            if fitted.model is None:
                out[rows] = lookup[0]
                continue
            z = project(data, rows, fitted.projection)
            with threads_for(z.size):
                component = np.asarray(fitted.model.predict(z))
            position = np.searchsorted(fitted.codes, component).clip(0, fitted.k - 1)
            known = fitted.codes[position] == component
            out[rows[known]] = lookup[position[known]]
        return out

    def to_strata(self, top: int | None = None) -> list[Stratum]:
        """Return the eligible clusters as strata for :func:`hstrat.evaluate`, worst first.

        Each stratum is named ``"pos:c<id>"`` (or ``"neg:"``), with ``variable`` = the
        detector's name, ``level`` = the cluster id and an explicit population
        (``"positives"`` or ``"negatives"``), so that a report can say "cluster 1 of the
        positives (kmeans), 121 cases". Its mask holds the cluster's **held-out** members
        and ``labelled`` the held-out cases: evaluate compares it with the rest of its
        class among held-out cases. With ``holdout=None`` both cover every case.

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
        >>> det = KMeansDetector(n_stability=0, random_state=0).fit(E, y_true=y, y_score=s)
        >>> first = det.to_strata(top=1)[0]
        >>> first, first.variable, first.level
        (Stratum(name='pos:c0', population='positives', n=18 of 400), 'kmeans', 0)
        """
        check_is_fitted(self, "labels_")
        if top is not None:
            top = check_int(top, "top", minimum=1)
        eligible = self.clusters_["eligible"].to_numpy(dtype=bool)
        chosen = [s for s, ok in zip(self._strata, eligible, strict=True) if ok]
        return chosen if top is None else chosen[:top]

    def exemplars(self, k: int = 5) -> pd.DataFrame:
        """Cases to review per cluster: the ``k`` nearest its mean, and its ``k`` nearest errors.

        Distances are Euclidean in the class's PCA space, to the mean of the cluster's
        fitted cases. Both discovery and held-out members are candidates; ``discovery``
        says which part a case came from.

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
        >>> det = KMeansDetector(n_stability=0, random_state=0).fit(E, y_true=y, y_score=s)
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


def _leader(fitted: _ClassFit, criterion: str) -> int:
    """Return the cluster that chose its class's k: the most clearly worse one (-1: none)."""
    if fitted.statistics is None or not fitted.eligible.any():
        return -1
    metric = ranking_metric(criterion)
    value = (
        fitted.statistics.error_rate
        if criterion == "paper"
        else fitted.statistics.deficit_z(metric)
    )
    value = np.where(fitted.eligible & np.isfinite(value), value, -np.inf)
    return int(np.argmax(value)) if np.isfinite(value.max()) else -1
