"""ClusterDetector: find and split candidate failing subclasses with any clusterer.

A detector looks for **unlabelled subclasses on which the model is worse**. Its steps,
per class (a subclass is a subclass *of a label*):

1. **Split** the class at random into a *discovery* part and a *held-out* part
   (``holdout``, default 40%). ``holdout=None`` uses every case for both: an
   *exploratory* fit, whose measurements are biased by selection.
2. **Project** its embeddings on principal components fitted on its discovery cases
   (:mod:`hstrat.detect._projection`).
3. **Cluster** its discovery cases for every candidate number of clusters and keep the
   one the ``criterion`` prefers; every case is assigned by the clusterer's ``predict``.
4. **Rank** the clusters of both classes on the discovery cases, worst first
   (:mod:`hstrat.detect._discovery`). Cluster ids are these ranks.
5. **Check stability** by refitting on bootstrap resamples (:mod:`hstrat.detect._stability`).

It does not measure: :meth:`ClusterDetector.to_strata` hands each cluster's **held-out**
members to :func:`hstrat.evaluate`. A cluster chosen for looking bad looks worse than it
is on the cases that chose it (the winner's curse); on cases that played no part in
finding or ranking it, it is a pre-specified subgroup and the usual intervals and tests
hold, as in sample splitting for post-selection inference (Cox 1975; Wasserman & Roeder
2009).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
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
from ._discovery import (
    CRITERIA,
    ClusterStatistics,
    cluster_statistics,
    criterion_metric,
    leader,
    placements_against,
    rank_order,
    ranking_metric,
    sampled_silhouette,
    selection_value,
)
from ._projection import fit_projection, project
from ._split import SplitModel, nearest
from ._stability import Stability, clustering_stability

__all__ = ["CLUSTER_COLUMNS", "EXEMPLAR_COLUMNS", "ClusterDetector"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

#: ``min_cluster_size="auto"``: the paper's 100 (Oakden-Rayner et al. 2020), scaled down
#: to 3% of a class's discovery cases for small data, but not below 10 (5% missed
#: subclasses of 5% of a class on the benchmark: half of them fell below it).
PAPER_MIN_CLUSTER_SIZE = 100
SMALL_MIN_CLUSTER_SIZE = 10
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
#: Columns of ``exemplars()``.
EXEMPLAR_COLUMNS = [
    "cluster",
    "name",
    "class",
    "kind",
    "position",
    "distance",
    "is_error",
    "discovery",
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


def holdout_split(classes: IntArray, fraction: float, rng: np.random.Generator) -> BoolArray:
    """Hold out ``fraction`` of each class at random (at least one case, and one kept)."""
    held = np.zeros(len(classes), dtype=bool)
    for code in np.unique(classes):
        members = np.flatnonzero(classes == code)
        n = len(members)
        n_held = 0 if n < 2 else min(max(round(fraction * n), 1), n - 1)
        held[rng.permutation(members)[:n_held]] = True
    return held


def fit_capturing_convergence(model: Any, data: Any) -> list[str]:
    """Fit ``model``; return its ConvergenceWarnings' messages, re-issue other warnings.

    k-means finding fewer distinct points than clusters, EM stopping early: results that
    the tables record, not noise.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data)
    messages = []
    for record in caught:
        if issubclass(record.category, ConvergenceWarning):
            messages.append(str(record.message))
        else:
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
    return messages


@dataclass(frozen=True)
class _ClassFit:
    """One class's clustering: ``local`` cluster of each member, ``codes`` their components."""

    name: str
    members: IntArray
    projection: PCA | None
    model: Any
    codes: IntArray
    local: IntArray
    statistics: ClusterStatistics | None
    eligible: BoolArray
    stability: Stability
    note: str

    @property
    def k(self) -> int:
        return len(self.codes)


class ClusterDetector(ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """Find subclasses on which a model fails by clustering its embeddings, per class.

    The "algorithmic measurement" of Oakden-Rayner et al. (2020) with any scikit-learn
    clusterer that has ``fit``, ``predict`` and an ``n_clusters`` or ``n_components``
    parameter (:class:`~sklearn.cluster.KMeans`, :class:`~sklearn.mixture.GaussianMixture`,
    ...). Each class's embeddings are projected on their principal components and
    clustered for every candidate number of clusters; the ``criterion`` keeps one per
    class:

    * ``"error_rate"`` (default): the number at which the worst eligible cluster is
      *most clearly* worse than the rest of its class: the largest difference in error
      rate at the operating point, in standard errors. That cluster leads its class.
    * ``"auc"``: the same with the AUC deficit in standard errors.
    * ``"paper"``: the paper's procedure — the number whose highest- and lowest-error
      eligible clusters are farthest apart; its highest-error cluster leads.
    * ``"silhouette"`` or ``"bic"`` (mixtures): structure only, as GEORGE (Sohoni et al.
      2020) chooses; no leader. Without labels (``fit(embeddings)``) the silhouette (or
      BIC) always chooses.

    Clusters are then ranked: the classes' leaders first, then every other cluster, each
    group by its AUC deficit (by error rate for ``"paper"``), worst first.

    Everything that chooses sees only the discovery cases (``holdout``);
    :meth:`to_strata` gives each cluster's held-out members to :func:`hstrat.evaluate`,
    which measures them. How often each choice recovers planted subclasses, against
    three published baselines: the guide's algorithmic-measurement page.

    Parameters
    ----------
    clusterer : estimator, optional
        Cloned for every fit; its ``n_clusters`` (or ``n_components``) and
        ``random_state`` are set by the detector. Default ``KMeans(n_init=3)``.
    n_clusters : int or sequence of int, default (2, 3, 4, 5)
        Candidate numbers of clusters per class (the paper's 2-5).
    criterion : {"error_rate", "auc", "paper", "silhouette", "bic"}, default "error_rate"
        How each class's number of clusters and leader are chosen (see above). On the
        discovery benchmark, ``"error_rate"`` with the AUC ranking recovered the failing
        subclass more often than ``"auc"``, the earlier default (guide, algorithmic
        measurement).
    split_leader : float or None, default 0.4
        With ``criterion`` ``"error_rate"`` or ``"auc"``: each class's leader is clustered
        in two again and, if the two parts are clearly apart (their silhouette is at least
        this) and one part is more clearly worse than the whole, that part leads and the
        other becomes a cluster of its own (:attr:`k_` counts it; ``k_selection_`` notes
        it). It separates a failing subclass from a benign neighbour that k <= 5 merged,
        and leaves a subclass that is one cloud whole. ``None``: never split.
    holdout : float or None, default 0.4
        Fraction of each class held out to measure the clusters (0.4 found the failing
        subclass more often than 0.5 on the benchmark; 0.3 did no better on fresh suites,
        with intervals about 15% wider).
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
        Refits run at once (:mod:`hstrat._parallel`): the same result for every value.
    random_state : int, numpy.random.Generator or None
        Seed of the split, the clusterer and the refits.
    name : str, optional
        Name in reports; default: the clusterer's class in lower case (``"kmeans"``).

    Attributes
    ----------
    labels_ : numpy.ndarray of int, shape (n_samples,)
        Cluster id of every case; ids are ranks (0 = worst), unique across classes.
    clusters_ : pandas.DataFrame
        One row per cluster, worst first, with :data:`CLUSTER_COLUMNS`: ``n`` held-out
        and ``n_discovery`` discovery members, ``prevalence`` (share of its class), the
        discovery statistics the choice saw (``discovery_z``: the deficit in standard
        errors of the criterion's metric, the error rate or the AUC, which chose k and the
        leader), ``stability`` (mean best-match Jaccard over refits: below 0.5 a cluster
        dissolves, above 0.75 it is stable; Hennig 2007), ``inference`` (``holdout`` or
        ``exploratory``) and a ``note``.
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
        Misclassified at the operating point ``threshold_``: the ``threshold`` given to
        :meth:`fit`, or Youden's on the discovery cases (None without labels).
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
    split_leader: Any
    min_cluster_size: Any
    whiten: Any
    name: Any

    def __init__(
        self,
        clusterer: Any = None,
        n_clusters: int | Sequence[int] = (2, 3, 4, 5),
        *,
        criterion: str = "error_rate",
        split_leader: float | None = 0.4,
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
        self.split_leader = split_leader
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
    #: The parameter that holds the candidate numbers of clusters.
    _candidates_param = "n_clusters"

    def _base_clusterer(self) -> Any:
        """Return the unfitted clusterer (presets build theirs from their parameters)."""
        return KMeans(n_init=3) if self.clusterer is None else self.clusterer

    def _detector_name(self) -> str:
        return (
            type(self._base_clusterer()).__name__.lower() if self.name is None else str(self.name)
        )

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
        split = self.split_leader
        if split is not None:
            if isinstance(split, bool) or not isinstance(split, numbers.Real):
                raise TypeError(
                    f"split_leader must be None or a silhouette in [-1, 1]; got {describe(split)}."
                )
            if not -1 <= float(split) <= 1:
                raise ValueError(
                    f"split_leader must be None or a silhouette in [-1, 1]; got {split!r}."
                )
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
        name = self._candidates_param
        value: Any = getattr(self, name)
        if not isinstance(value, bool) and isinstance(value, numbers.Integral):
            return base, size_param, [check_int(value, name, minimum=1)]
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
            raise TypeError(
                f"{name} must be an int or a non-empty sequence of ints; got {describe(value)}."
            )
        return base, size_param, sorted({check_int(v, name, minimum=1) for v in value})

    def _min_size(self, n_discovery: int) -> int:
        size = self.min_cluster_size
        if isinstance(size, str):  # "auto"
            share = math.ceil(AUTO_MIN_SHARE * n_discovery)
            return min(PAPER_MIN_CLUSTER_SIZE, max(SMALL_MIN_CLUSTER_SIZE, share))
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
        threshold: float | str | dict[str, float] | None = None,
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
        threshold : float, "youden" or {"sensitivity": x} / {"specificity": x}, optional
            Operating point (``score >= threshold`` is called positive) at which errors
            are counted: a number, or a rule applied to the discovery cases (every case
            with ``holdout=None``; :func:`hstrat.metrics.operating_threshold`), so that
            no held-out outcome plays a part in choosing the clusters. Default
            ``"youden"``. :func:`hstrat.evaluate` passes its ``threshold`` as given: its
            rule, not the number the rule gave on every case.

        Returns
        -------
        self
        """
        setup = self._validate()
        data = check_embeddings(embeddings)
        n = data.shape[0]
        y_bool, scores = self._check_targets(n, y_true, y_score, threshold)
        split_rng, cluster_rng, stability_rng = check_random_state(self.random_state).spawn(3)
        names = ["all"] if y_bool is None else ["negatives", "positives"]
        codes = np.zeros(n, np.intp) if y_bool is None else y_bool.astype(np.intp)
        inference = np.ones(n, dtype=bool)
        discovery = inference
        if self.holdout is not None:
            inference = holdout_split(codes, float(self.holdout), split_rng)
            discovery = ~inference
        errors: BoolArray | None = None
        placements = np.full(n, np.nan)
        thr = float("nan")
        if y_bool is not None and scores is not None:
            # A rule's threshold from the discovery cases only: errors choose and rank the
            # clusters (criterion "error_rate", "paper"), so no held-out outcome may set it.
            spec = "youden" if threshold is None else threshold
            thr = resolve_threshold(spec, y_bool[discovery], scores[discovery])[0]
            errors = np.where(y_bool, scores < thr, scores >= thr)
            pos, neg = discovery & y_bool, discovery & ~y_bool
            placements[pos] = placements_against(scores[pos], scores[neg], positive=True)
            placements[neg] = placements_against(scores[neg], scores[pos], positive=False)

        fits: list[_ClassFit] = []
        selection: list[dict[str, Any]] = []
        distances = np.full(n, np.nan)
        width = min(data.shape[1], self.pca_components or data.shape[1])
        rngs = zip(cluster_rng.spawn(len(names)), stability_rng.spawn(len(names)), strict=True)
        for code, (label, (c_rng, s_rng)) in enumerate(zip(names, rngs, strict=True)):
            members = np.flatnonzero(codes == code)
            with threads_for(min(len(members), self.max_fit_samples or len(members)) * width):
                fitted, rows, distances[members] = self._fit_class(
                    data, label, members, discovery, placements, errors, setup, c_rng, s_rng
                )
            fits.append(fitted)
            selection.extend(rows)

        metric = ranking_metric(self.criterion)
        leads = self.criterion in ("auc", "error_rate", "paper") and y_bool is not None
        order = rank_order(
            [
                f.statistics.deficit(metric) if f.statistics is not None and y_bool is not None
                else np.bincount(f.local[discovery[f.members]], minlength=f.k).astype(float)
                for f in fits
            ],
            [f.eligible for f in fits],
            [leader(f.statistics, f.eligible, self.criterion) if leads else -1 for f in fits],
        )  # fmt: skip
        self._lookup = [np.empty(f.k, dtype=np.intp) for f in fits]
        for cluster_id, (f_index, j) in enumerate(order):
            self._lookup[f_index][j] = cluster_id
        self.labels_ = np.empty(n, dtype=np.intp)
        for lookup, fitted in zip(self._lookup, fits, strict=True):
            self.labels_[fitted.members] = lookup[fitted.local]

        self.n_features_in_ = data.shape[1]
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
        self.class_stability_ = {f.name: f.stability.mean_ari for f in fits}
        finite = [a for a in self.class_stability_.values() if np.isfinite(a)]
        self.stability_ = float(np.mean(finite)) if finite else float("nan")
        self._fits = fits
        self.clusters_ = self._cluster_table(fits, order)
        return self

    def _check_targets(
        self, n: int, y_true: Any, y_score: Any, threshold: Any
    ) -> tuple[BoolArray | None, FloatArray | None]:
        if y_true is None and y_score is None:
            if threshold is not None:
                raise ValueError(
                    f"threshold is used with y_true and y_score; got threshold={threshold!r} "
                    "without them."
                )
            return None, None
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
        return y_bool, scores

    def _fit_class(
        self,
        data: npt.NDArray[Any],
        label: str,
        members: IntArray,
        discovery: BoolArray,
        placements: FloatArray,
        errors: BoolArray | None,
        setup: tuple[Any, str, list[int]],
        rng: np.random.Generator,
        stability_rng: np.random.Generator,
    ) -> tuple[_ClassFit, list[dict[str, Any]], FloatArray]:
        """Project, choose the clustering, label every member, measure stability."""
        base, size_param, candidates = setup
        local_disc = np.flatnonzero(discovery[members])
        fit_local = local_disc
        if self.max_fit_samples is not None and len(fit_local) > self.max_fit_samples:
            fit_local = np.sort(rng.choice(fit_local, self.max_fit_samples, replace=False))
        projection = fit_projection(
            data, members[fit_local], self.pca_components, whiten=bool(self.whiten), rng=rng
        )
        z = project(data, members, projection)
        min_size = self._min_size(len(local_disc))

        def new_model(k: int, seed: int) -> Any:
            model = clone(base).set_params(**{size_param: k})
            if "random_state" in model.get_params():
                model.set_params(random_state=seed)
            return model

        def statistics_of(local: IntArray, k: int) -> ClusterStatistics | None:
            rows = members[local_disc]
            if errors is None:
                return None
            return cluster_statistics(placements[rows], errors[rows], local[local_disc], k)

        rows: list[dict[str, Any]] = []
        chosen: tuple[dict[str, Any], Any, IntArray, IntArray, ClusterStatistics | None] | None
        chosen = first = None
        for k in candidates:
            row: dict[str, Any] = {"class": label, "k": k, "criterion": np.nan,
                                   "n_eligible": 0, "chosen": False, "note": ""}  # fmt: skip
            rows.append(row)
            if k > len(fit_local):
                row["note"] = f"more clusters than the {len(fit_local)} cases to fit"
                continue
            seed = int(rng.integers(2**31 - 1))
            model = new_model(k, seed)
            messages = fit_capturing_convergence(model, z[fit_local])
            codes, local = np.unique(np.asarray(model.predict(z)), return_inverse=True)
            local = local.astype(np.intp)
            statistics = statistics_of(local, len(codes))
            sizes = np.bincount(local[local_disc], minlength=len(codes))
            eligible = (sizes >= min_size) & (len(codes) > 1)
            row["n_eligible"] = int(eligible.sum())
            row["criterion"], why = self._score(
                model, z[fit_local], local[fit_local], statistics, eligible, seed
            )
            row["note"] = "; ".join(filter(None, [*messages, why]))
            candidate = (row, model, codes, local, statistics)
            first = first or candidate
            if np.isfinite(row["criterion"]) and (
                chosen is None or row["criterion"] > chosen[0]["criterion"]
            ):
                chosen = candidate
        note = ""
        if chosen is None and first is not None:
            chosen = first
            first[0]["note"] = "; ".join(
                filter(None, [first[0]["note"], "no candidate scored: smallest k kept"])
            )
        if chosen is None:
            note = "too few cases to cluster: the whole class is one cluster"
            model, codes, local = None, np.zeros(1, np.intp), np.zeros(len(members), np.intp)
            statistics = statistics_of(local, 1)  # one cluster: still described
        else:
            chosen[0]["chosen"] = True
            model, codes, local, statistics = chosen[1:]
        split, centres = None, (np.empty(0), np.empty(0))
        if chosen is not None and statistics is not None and self.split_leader is not None:
            split = self._split_leader(
                z,
                fit_local,
                local_disc,
                model,
                codes,
                local,
                statistics,
                min_size,
                new_model,
                statistics_of,
                rng,
            )
            if split is not None:
                model, codes, local, statistics, centres, why = split
                chosen[0]["note"] = "; ".join(filter(None, [chosen[0]["note"], why]))
        k = len(codes)
        n_discovery = np.bincount(local[local_disc], minlength=k)
        held = local[~discovery[members]] if self.holdout is not None else local
        # a candidate needs a held-out case to be measured (sizes only: no outcome is seen)
        eligible = (n_discovery >= min_size) & (np.bincount(held, minlength=k) > 0) & (k > 1)
        pick = [fit_local if (local[fit_local] == j).any() else slice(None) for j in range(k)]
        centers = np.stack([z[p][local[p] == j].mean(axis=0) for j, p in enumerate(pick)])
        distances = np.sqrt(np.sum((z - centers[local]) ** 2, axis=1, dtype=np.float64))
        stability = Stability(np.empty(0), np.full(k, np.nan))
        if model is not None:
            k_model = int(model.get_params()[size_param])

            def refit(train: npt.NDArray[Any], test: npt.NDArray[Any], seed: int) -> IntArray:
                model = new_model(k_model, seed)
                fit_capturing_convergence(model, train)
                labels = np.asarray(model.predict(test), dtype=np.intp)
                if split is None:
                    return labels
                # split the refit's cluster nearest the leader as the leader was split
                on_train = np.asarray(model.predict(train), dtype=np.intp)
                target = nearest(train, on_train, centres[0])
                group = train[on_train == target]
                if len(group) < 2:
                    return labels
                sub = new_model(2, seed)
                fit_capturing_convergence(sub, group)
                keep = nearest(group, np.asarray(sub.predict(group), np.intp), centres[1])
                inside = np.flatnonzero(labels == target)
                parts = np.asarray(sub.predict(test[inside]))
                labels[inside[parts != keep]] = k_model  # a label no refit cluster has
                return labels

            stability = clustering_stability(
                z[fit_local], local[fit_local], k, refit, self.n_stability, stability_rng,
                n_jobs=self.n_jobs,
            )  # fmt: skip
        fitted = _ClassFit(
            label, members, projection, model, codes, local, statistics, eligible, stability, note
        )
        return fitted, rows, distances

    def _split_leader(
        self,
        z: npt.NDArray[Any],
        fit_local: IntArray,
        local_disc: IntArray,
        model: Any,
        codes: IntArray,
        local: IntArray,
        statistics: ClusterStatistics,
        min_size: int,
        new_model: Callable[[int, int], Any],
        statistics_of: Callable[[IntArray, int], ClusterStatistics | None],
        rng: np.random.Generator,
    ) -> tuple[Any, IntArray, IntArray, ClusterStatistics, tuple[Any, Any], str] | None:
        """Return the class with its leader split in two (:mod:`._split`), or None."""
        if self.criterion not in ("error_rate", "auc"):
            return None
        k = len(codes)
        sizes = np.bincount(local[local_disc], minlength=k)
        lead = leader(statistics, (sizes >= min_size) & (k > 1), self.criterion)
        inside = fit_local[local[fit_local] == lead] if lead >= 0 else fit_local[:0]
        if len(inside) < 2 * min_size:
            return None
        seed = int(rng.integers(2**31 - 1))
        sub = new_model(2, seed)
        fit_capturing_convergence(sub, z[inside])
        parts = np.asarray(sub.predict(z[inside]), dtype=np.intp)
        silhouette, _ = sampled_silhouette(z[inside], parts, seed)
        if not silhouette >= float(self.split_leader or 0.0):
            return None
        metric = criterion_metric(self.criterion)
        # Every member of the leader, by part: the clusterer's labels are already `local`.
        led = np.flatnonzero(local == lead)
        led_parts = np.asarray(sub.predict(z[led]), dtype=np.intp)
        new_codes = np.r_[codes, int(codes.max()) + 1].astype(codes.dtype)
        best: tuple[float, Any] | None = None
        for keep in np.unique(parts):
            drop = int(np.setdiff1d(parts, [keep])[0])
            new_local = local.copy()
            new_local[led[led_parts == drop]] = k  # the new code sorts last
            st = statistics_of(new_local, k + 1)
            n_kept = np.sum(new_local[local_disc] == lead)
            value = st.deficit_z(metric)[lead] if st is not None else np.nan
            better = value > statistics.deficit_z(metric)[lead]
            if n_kept >= min_size and better and (best is None or value > best[0]):
                centres = (z[inside].mean(axis=0), z[inside][parts == keep].mean(axis=0))
                candidate = SplitModel(model, int(codes[lead]), sub, drop, int(new_codes[-1]))
                best = (value, (candidate, new_codes, new_local, st, centres))
        if best is None:
            return None
        candidate, new_codes, new_local, st, centres = best[1]
        why = f"leader split in two (silhouette {silhouette:.2f})"
        return candidate, new_codes, new_local, st, centres, why

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

    def _cluster_table(self, fits: list[_ClassFit], order: list[tuple[int, int]]) -> pd.DataFrame:
        records: list[dict[str, Any]] = []
        for cluster_id, (f_index, j) in enumerate(order):
            fitted = fits[f_index]
            st = fitted.statistics
            members = self.labels_ == cluster_id
            note = fitted.note
            if fitted.k == 1 and not note:
                note = "the whole class is one cluster: not a candidate"
            elif not fitted.eligible[j] and fitted.k > 1:
                note = "below min_cluster_size (or no held-out case): not a candidate"
            measured = [np.full(fitted.k, np.nan)] * 5
            if st is not None:
                measured = [st.auc, st.auc_diff, st.error_rate, st.error_rate_diff]
                measured.append(st.deficit_z(criterion_metric(self.criterion)))
            records.append(
                {
                    "cluster": cluster_id,
                    "name": f"{_PREFIX[fitted.name]}:c{cluster_id}",
                    "class": fitted.name,
                    "eligible": bool(fitted.eligible[j]),
                    "n": int((members & self.inference_mask_).sum()),
                    "n_discovery": int((members & self.discovery_mask_).sum()),
                    "prevalence": float(members.sum() / len(fitted.members)),
                    **{
                        c: float(m[j])
                        for c, m in zip(CLUSTER_COLUMNS[7:12], measured, strict=True)
                    },
                    "stability": float(fitted.stability.jaccard[j]),
                    "inference": "exploratory" if self.holdout is None else "holdout",
                    "note": note,
                }
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
            Their labels; required when the detector was fitted with labels (the clusters
            are per class).

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
        >>> y, hidden = np.arange(400) < 200, np.arange(400) < 50
        >>> E = rng.normal(size=(400, 3)) + 4.0 * hidden[:, None]
        >>> s = rng.normal(size=400) + y - 2.0 * hidden
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
        codes = np.zeros(n, dtype=np.intp)
        if self._fits[0].name == "all" and y_true is not None:
            raise ValueError("y_true must be None: this detector was fitted without labels.")
        if self._fits[0].name != "all":
            if y_true is None:
                raise ValueError(
                    "y_true is required: this detector was fitted with labels and its "
                    "clusters are per class."
                )
            codes = check_labels(y_true).astype(np.intp)
            if len(codes) != n:
                raise ValueError(
                    f"y_true must have one entry per row of embeddings ({n}); got {len(codes)}."
                )
        out = np.full(n, -1, dtype=np.intp)
        for code, (fitted, lookup) in enumerate(zip(self._fits, self._lookup, strict=True)):
            rows = np.flatnonzero(codes == code)
            if fitted.model is None:
                out[rows] = lookup[0]
            elif len(rows):
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
        detector's name, ``level`` = the cluster id and the population of its class.
        Its mask holds the cluster's **held-out** members and ``labelled`` the held-out
        cases, so that evaluate compares it with the rest of its class among held-out
        cases. With ``holdout=None`` both cover every case.

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
        >>> y, hidden = np.arange(400) < 200, np.arange(400) < 50
        >>> E = rng.normal(size=(400, 3)) + 4.0 * hidden[:, None]
        >>> s = rng.normal(size=400) + y - 2.0 * hidden
        >>> det = KMeansDetector(n_stability=0, random_state=0).fit(E, y_true=y, y_score=s)
        >>> first = det.to_strata(top=1)[0]
        >>> first, first.variable, first.level
        (Stratum(name='pos:c0', population='positives', n=18 of 400), 'kmeans', 0)
        """
        check_is_fitted(self, "labels_")
        chosen = self.clusters_[self.clusters_["eligible"]]
        if top is not None:
            chosen = chosen.head(check_int(top, "top", minimum=1))
        return [
            Stratum(
                (self.labels_ == cluster) & self.inference_mask_,
                population,
                name=name,
                variable=self._detector_name(),
                level=int(cluster),
                labelled=self.inference_mask_,
            )
            for cluster, name, population in chosen[["cluster", "name", "class"]].to_numpy()
        ]

    def exemplars(self, k: int = 5) -> pd.DataFrame:
        """Cases to review per cluster: the ``k`` nearest its mean, and its ``k`` nearest errors.

        The cases nearest a cluster's centre show what it *is*; its errors nearest the
        centre show what the model gets wrong *in* it. Distances are Euclidean in the
        class's PCA space, to the mean of the cluster's fitted cases; discovery and
        held-out members are both candidates.

        Parameters
        ----------
        k : int, default 5
            Cases of each kind per cluster.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`EXEMPLAR_COLUMNS`: ``kind`` is ``"central"`` or ``"error"``
            (errors only when fitted with labels), ``position`` indexes the rows of the
            fitted embeddings, ``discovery`` says which part a case came from. Clusters
            in rank order, nearest first.

        Examples
        --------
        >>> import numpy as np
        >>> from hstrat.detect import KMeansDetector
        >>> rng = np.random.default_rng(0)
        >>> y, hidden = np.arange(400) < 200, np.arange(400) < 50
        >>> E = rng.normal(size=(400, 3)) + 4.0 * hidden[:, None]
        >>> s = rng.normal(size=400) + y - 2.0 * hidden
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
        order = np.lexsort((self.distances_, self.labels_))  # by cluster, nearest first
        is_error = np.zeros(len(order), bool) if self.errors_ is None else self.errors_
        cases = pd.DataFrame({"cluster": self.labels_[order], "position": order})
        cases["distance"] = self.distances_[order]
        cases["is_error"] = is_error[order]
        cases["discovery"] = self.discovery_mask_[order]
        parts = [cases.groupby("cluster").head(k).assign(kind="central")]
        if self.errors_ is not None:
            parts.append(cases[cases["is_error"]].groupby("cluster").head(k).assign(kind="error"))
        table = pd.concat(parts).sort_values(["cluster", "kind"], kind="stable")
        table = table.merge(self.clusters_[["cluster", "name", "class"]], on="cluster", how="left")
        return table[EXEMPLAR_COLUMNS].reset_index(drop=True)
