"""Vectorized bootstrap of one or many AUCs from the same resamples.

A bootstrap resample is represented by how many times each case is drawn (a row of
counts). For cases sorted by class and then by score, the AUC of a resample is

    2U = sum over positives i of  c_i * (N(< s_i) + N(<= s_i))

where N counts resampled negatives below the positive's score: a cumulative sum of the
negatives' counts read at precomputed positions (the mid-rank trick of Sun & Xu,
applied to counts; read twice only for positives tied with a negative). Everything is
integer arithmetic on a ``(chunk, n)`` array, so a chunk of resamples costs a handful
of numpy passes and the result is bit-identical whatever the chunk size. Strata that
share their negatives (every stratum of positives, the overall AUC) share the
cumulative sum, so adding such a stratum costs only its own positives.

Randomness: replicate ``r`` always draws from its own child stream
``SeedSequence.spawn(n_resamples)[r]`` of the generator made from ``random_state``,
which is what makes the output independent of chunking, and of threads: chunks run on
``n_jobs`` threads (:mod:`hstrat._parallel`), each writing its own rows into its own
reused working arrays. Every step of the loop runs without the GIL, bar the count of the
draws when numba is not installed (:mod:`hstrat.metrics._counting`).
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._parallel import check_n_jobs, parallel_map
from .._validation import (
    RandomState,
    check_confidence_level,
    check_groups,
    check_int,
    check_option,
    check_random_state,
)
from ..exceptions import UndefinedMetricWarning
from ._auc import check_binary_inputs, warn_if_undefined
from ._counting import count_draws, counting_kernel
from ._delong import placements
from ._normal import normal_cdf, normal_quantile
from ._results import AUCResult

__all__ = ["bootstrap_ci"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BOOTSTRAP_METHODS = ("percentile", "basic", "bca")
#: Elements per working array (8 bytes each), unless one replicate needs more: one pass
#: spreads the per-call cost of numpy (per subset) over several replicates, and stays
#: in the cache the cores share.
CHUNK_ELEMENTS = 2**19
#: Counts per task handed to a thread (several passes): enough work to pay for the hand-over.
TASK_ELEMENTS = 2**21
#: Units drawn per block (1 MiB of uniforms): the draw works inside one core's cache.
DRAW_BLOCK = 2**17
#: Fewer cases than this run on one thread whatever ``n_jobs`` says: a replicate's arrays
#: then fit in a core's cache, and threads only add their overhead (measured on 2 cores,
#: 2,000 resamples: two threads 0.76x one at 10,000 and 20,000 cases, 1.5x at 40,000).
THREADS_FROM = 30_000


@dataclass(frozen=True)
class Subset:
    """The cases (distinct indices into the samples) one AUC is computed on."""

    pos: IntArray
    neg: IntArray


class Scratch(threading.local):
    """Working arrays of one thread, reused from chunk to chunk.

    Fresh arrays of this size would be faulted in page by page on every chunk, and
    threads that fault at once queue in the kernel; so the hot loop writes into these.
    """

    def __init__(self) -> None:
        self._flat: dict[str, npt.NDArray[Any]] = {}
        self._last: dict[str, npt.NDArray[Any]] = {}  # the view handed out last, per buffer

    def array(self, name: str, shape: tuple[int, ...], dtype: type[Any]) -> npt.NDArray[Any]:
        """Return a C-contiguous array of ``shape`` (contents undefined) in buffer ``name``."""
        last = self._last.get(name)
        if last is not None and last.shape == shape and last.dtype == dtype:
            return last  # the hot loop asks for the same shape again and again
        size = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.size < size or flat.dtype != dtype:
            flat = self._flat[name] = np.empty(size, dtype)
        view = self._last[name] = flat[:size].reshape(shape)
        return view


class Resampler:
    """Draws bootstrap resamples as counts per case, replicate by replicate.

    Cases are handled in class-then-score order (negatives first, each class by
    ascending score), the order the counting formula needs; :attr:`order` maps those
    positions back to the caller's cases.

    Parameters
    ----------
    y : array of bool
        Labels, in the caller's order.
    scores : array of float
        Scores, in the caller's order.
    n_resamples : int
        Number of bootstrap replicates.
    rng : numpy.random.Generator
        Parent generator; one child stream is spawned per replicate.
    cells : array of int, optional
        Stratification cell of each resampled unit (case, or cluster with ``groups``),
        in the caller's order: each cell is resampled with replacement to its own size.
        ``None`` resamples all units together.
    groups : array of int, optional
        Cluster code (``0..G-1``) of each case. Whole clusters are resampled and every
        case of a drawn cluster comes along.
    """

    def __init__(
        self,
        y: npt.NDArray[np.bool_],
        scores: FloatArray,
        n_resamples: int,
        rng: np.random.Generator,
        *,
        cells: IntArray | None = None,
        groups: IntArray | None = None,
    ) -> None:
        n = len(y)
        self.order: IntArray = np.lexsort((scores, y)).astype(np.intp)
        self.n_samples = n
        self.n_resamples = n_resamples
        self.groups = None if groups is None else groups[self.order]
        if groups is None:
            self.n_units = n
            unit_cells = None if cells is None else np.asarray(cells, np.intp)[self.order]
        else:
            self.n_units = int(groups.max()) + 1 if n else 0
            unit_cells = None if cells is None else np.asarray(cells, np.intp)
        if unit_cells is None:
            unit_cells = np.zeros(self.n_units, dtype=np.intp)
        self._members = None  # units of each cell are already contiguous (class order)
        if np.any(unit_cells[1:] < unit_cells[:-1]):
            self._members = np.argsort(unit_cells, kind="stable").astype(np.intp)
            unit_cells = unit_cells[self._members]
        _, starts, sizes = np.unique(unit_cells, return_index=True, return_counts=True)
        # Each cell's slots in blocks that fit the cache: (first, stop, cell size, cell start).
        self._blocks = [
            (first, min(first + DRAW_BLOCK, start + size), float(size), int(start))
            for start, size in zip(starts.tolist(), sizes.tolist(), strict=True)
            for first in range(start, start + size, DRAW_BLOCK)
        ]
        self._seeds = rng.bit_generator.seed_seq.spawn(n_resamples)  # type: ignore[attr-defined]
        # Fetched here, not in the worker threads; small data (one thread) skips compiling.
        self._kernel = counting_kernel() if self.n_units >= THREADS_FROM else None

    def unit_draws(self, replicate: int, scratch: Scratch | None = None) -> IntArray:
        """Units drawn for one replicate, as positions in the internal order."""
        scratch = Scratch() if scratch is None else scratch
        rng = np.random.default_rng(self._seeds[replicate])
        u = scratch.array("u", (min(DRAW_BLOCK, self.n_units),), np.float64)
        draws = scratch.array("draws", (self.n_units,), np.intp)
        for first, stop, size, start in self._blocks:
            # Block by block, in stream order: the uniforms never leave the cache.
            block = u[: stop - first]
            rng.random(out=block)
            # floor(u * k) <= k - 1 for every u < 1 and k < 2**53: no clipping needed.
            # The product is truncated as it is written: one pass, no float copy.
            np.multiply(block, size, out=draws[first:stop], casting="unsafe")
            if start:
                draws[first:stop] += start
        if self._members is None:
            return draws
        # Indices valid by construction; "clip" lets take write straight into the buffer.
        return np.take(
            self._members, draws, out=scratch.array("units", draws.shape, np.intp), mode="clip"
        )

    def counts(
        self, start: int, stop: int, scratch: Scratch | None = None
    ) -> npt.NDArray[np.int64]:
        """Return counts per case (internal order) for replicates ``start..stop-1``.

        With ``scratch`` the result may live in its buffer ``"counts"`` until the next call.
        """
        scratch = Scratch() if scratch is None else scratch
        if stop - start == 1 and self.groups is None and self._kernel is None:
            # bincount's own output, not copied (one replicate a pass: a million cases)
            return np.bincount(self.unit_draws(start, scratch), minlength=self.n_units)[None]
        out = scratch.array("counts", (stop - start, self.n_samples), np.int64)
        for row in range(stop - start):
            # One count per row keeps the scatter inside the cache.
            draws = self.unit_draws(start + row, scratch)
            if self.groups is None:
                count_draws(draws, out[row], self._kernel)
            else:
                units = scratch.array("unit_counts", (self.n_units,), np.int64)
                count_draws(draws, units, self._kernel)
                np.take(units, self.groups, out=out[row], mode="clip")
        return out


def _as_slice(idx: IntArray) -> slice | IntArray:
    """Return a contiguous run of indices as a slice (gathering it is then a view)."""
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _columns(
    counts: npt.NDArray[np.int64], idx: slice | IntArray, scratch: Scratch, name: str
) -> npt.NDArray[np.int64]:
    if isinstance(idx, slice):
        return counts[:, idx]
    out = scratch.array(name, (counts.shape[0], len(idx)), np.int64)
    return np.take(counts, idx, axis=1, out=out, mode="clip")


class _SharedNegatives:
    """Subsets that use the same negatives, with their positions into the cumulative sums.

    A subset whose positives are another member's less a third's (a stratum's complement
    among the positives: all positives less the stratum's) is not counted again: U and
    the count of positives are sums over positives, so its are the difference of theirs.
    """

    def __init__(self, neg: IntArray, scores_sorted: FloatArray) -> None:
        self.neg = _as_slice(neg)
        self.n_neg = len(neg)
        self._neg_scores = scores_sorted[neg]
        self.members: list[tuple[int, slice | IntArray, IntArray, IntArray, IntArray]] = []
        self.differences: list[tuple[int, int, int]] = []  # (subset, whole, part)
        self._positives: dict[int, IntArray] = {}
        self._by_size: dict[int, list[int]] = {}

    def _difference(self, pos: IntArray) -> tuple[int, int] | None:
        """Members ``(whole, part)`` whose positives differ by exactly ``pos``, if any."""
        for whole, whole_pos in self._positives.items():
            for part in self._by_size.get(len(whole_pos) - len(pos), []) if len(pos) else []:
                # Sizes add up, so an equal union means the two are disjoint.
                union = np.sort(np.concatenate((pos, self._positives[part])))
                if np.array_equal(union, whole_pos):
                    return whole, part
        return None

    def add(self, k: int, pos: IntArray, scores_sorted: FloatArray) -> None:
        found = self._difference(pos)
        self._positives[k] = pos
        self._by_size.setdefault(len(pos), []).append(k)
        if found is not None:
            self.differences.append((k, *found))
            return
        sp = scores_sorted[pos]
        lo = np.searchsorted(self._neg_scores, sp, "left")
        # Positives tied with a negative, and where their tie ends.
        tied = np.flatnonzero(lo < self.n_neg)
        tied = tied[self._neg_scores[lo[tied]] == sp[tied]]
        hi_tied = np.searchsorted(self._neg_scores, sp[tied], "right")
        self.members.append((k, _as_slice(pos), lo, tied, hi_tied))


class SubsetPlan:
    """Subsets in the class-then-score order of ``order``, grouped by shared negatives.

    :meth:`aucs` evaluates every subset's AUC for rows of counts; with a row of ones it
    gives the observed AUCs in one pass, without sorting the data again.
    """

    def __init__(self, scores: FloatArray, subsets: Sequence[Subset], order: IntArray) -> None:
        n = len(order)
        rank = np.empty(n, dtype=np.intp)
        rank[order] = np.arange(n)
        scores_sorted = scores[order]
        self.n_samples = n
        self.n_subsets = len(subsets)
        self._groups: dict[bytes, _SharedNegatives] = {}
        chosen = np.zeros(n, dtype=bool)

        def positions(cases: IntArray) -> IntArray:
            # Internal positions of the cases, ascending: a scatter, not a sort.
            chosen[:] = False
            chosen[rank[cases]] = True
            return np.flatnonzero(chosen)

        for k, sub in enumerate(subsets):
            neg = positions(sub.neg)
            key = neg.tobytes()
            if key not in self._groups:
                self._groups[key] = _SharedNegatives(neg, scores_sorted)
            self._groups[key].add(k, positions(sub.pos), scores_sorted)

    def aucs(self, counts: npt.NDArray[np.int64], scratch: Scratch | None = None) -> FloatArray:
        """Return every subset's AUC for each row of counts: ``(rows, K)``, NaN if undefined."""
        # np.take (not counts[:, idx]) keeps the gathered rows C-contiguous, which makes
        # the cumulative sums and reductions below several times faster. Positions are
        # valid by construction; mode="clip" lets take write into the scratch buffers.
        scratch = Scratch() if scratch is None else scratch
        rows = counts.shape[0]
        out = np.full((rows, self.n_subsets), np.nan)
        for group in self._groups.values():
            cum = scratch.array("cum", (rows, group.n_neg + 1), np.int64)
            cum[:, 0] = 0
            neg_counts = _columns(counts, group.neg, scratch, "neg")
            for row in range(rows):
                # Row by row: numpy keeps the GIL through a cumsum along axis 1 of a
                # few rows (its threshold counts rows), not along one long row.
                np.cumsum(neg_counts[row], out=cum[row, 1:])
            n_neg = cum[:, -1]
            two_u: dict[int, npt.NDArray[np.int64]] = {}
            n_pos: dict[int, npt.NDArray[np.int64]] = {}
            for k, pos, lo, tied, hi_tied in group.members:
                cp = _columns(counts, pos, scratch, "pos")
                below = scratch.array("below", (rows, len(lo)), np.int64)
                np.take(cum, lo, axis=1, out=below, mode="clip")
                # N(< s) + N(<= s) = 2 N(< s) + the negatives tied at s: a second
                # gather only for the positives that tie with a negative.
                two_u[k] = 2 * np.einsum("ij,ij->i", cp, below)
                if len(tied):
                    at_tie = np.take(cum, hi_tied, axis=1) - np.take(cum, lo[tied], axis=1)
                    two_u[k] += np.einsum("ij,ij->i", np.take(cp, tied, axis=1), at_tie)
                n_pos[k] = np.einsum("ij->i", cp)
            for k, whole, part in group.differences:
                two_u[k] = two_u[whole] - two_u[part]
                n_pos[k] = n_pos[whole] - n_pos[part]
            for k in two_u:
                denominator = 2.0 * n_pos[k] * n_neg
                np.divide(two_u[k], denominator, out=out[:, k], where=denominator > 0)
        return out

    def observed(self) -> FloatArray:
        """Return the AUC of every subset on the data itself (every case counted once)."""
        return np.asarray(self.aucs(np.ones((1, self.n_samples), dtype=np.int64))[0])


def bootstrap_aucs(
    scores: FloatArray,
    subsets: Sequence[Subset],
    resampler: Resampler,
    *,
    chunk_size: int | None = None,
    progress: Callable[[int], object] | None = None,
    plan: SubsetPlan | None = None,
    n_jobs: int | None = 1,
) -> FloatArray:
    """AUC of every subset in every replicate: an array of shape ``(n_resamples, K)``.

    Subsets index the caller's cases. A replicate in which a subset has no positive or
    no negative gives NaN. Chunks of replicates run on up to ``n_jobs`` threads (see
    :mod:`hstrat._parallel`); ``progress`` is called in the calling thread with the
    number of replicates done in each chunk. ``plan`` reuses a :class:`SubsetPlan` built
    on ``resampler.order``.
    """
    if plan is None:
        plan = SubsetPlan(scores, subsets, resampler.order)
    n_resamples = resampler.n_resamples
    rows = max(1, CHUNK_ELEMENTS // max(resampler.n_samples, 1))
    if chunk_size is None:
        chunk_size = rows * max(1, TASK_ELEMENTS // (rows * max(resampler.n_samples, 1)))
    rows = min(rows, chunk_size)
    out = np.empty((n_resamples, len(subsets)), dtype=np.float64)
    scratch = Scratch()  # one set of working arrays per thread

    def fill(start: int) -> int:
        stop = min(n_resamples, start + chunk_size)
        for first in range(start, stop, rows):
            last = min(stop, first + rows)
            out[first:last] = plan.aucs(resampler.counts(first, last, scratch), scratch)
        return stop - start

    if resampler.n_samples < THREADS_FROM:
        n_jobs = 1
    parallel_map(fill, range(0, n_resamples, chunk_size), n_jobs=n_jobs, on_result=progress)
    return out


def jackknife_aucs(
    scores: FloatArray, subset: Subset, n_samples: int, groups: IntArray | None = None
) -> FloatArray:
    """Leave-one-unit-out AUCs (units: cases, or clusters when ``groups`` is given).

    Computed in O(n log n) from the placements: removing positive ``i`` takes its
    placement out of the mean, removing a cluster also adds back its within-cluster pairs.
    Units that the subset does not use keep the full-sample AUC.
    """
    p = placements(scores, subset.pos, subset.neg)
    m, n = len(subset.pos), len(subset.neg)
    if groups is None:
        out = np.full(n_samples, p.theta)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[subset.pos] = (m * p.theta - p.v_pos) / (m - 1) if m > 1 else np.nan
            out[subset.neg] = (n * p.theta - p.v_neg) / (n - 1) if n > 1 else np.nan
        return out
    n_groups = int(groups.max()) + 1
    two_u = 2.0 * m * n * p.theta
    # 2 * (pairs involving each case), summed per cluster
    removed = np.bincount(groups[subset.pos], weights=2.0 * n * p.v_pos, minlength=n_groups)
    removed += np.bincount(groups[subset.neg], weights=2.0 * m * p.v_neg, minlength=n_groups)
    within = _within_group_twice_u(scores, subset, groups, n_groups)
    m_left = m - np.bincount(groups[subset.pos], minlength=n_groups)
    n_left = n - np.bincount(groups[subset.neg], minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (two_u - removed + within) / (2.0 * m_left * n_left)
    return np.where((m_left > 0) & (n_left > 0), out, np.nan)


def _within_group_twice_u(
    scores: FloatArray, subset: Subset, groups: IntArray, n_groups: int
) -> FloatArray:
    """Twice the Mann-Whitney count of the pairs inside each cluster."""
    levels = np.unique(scores)
    width = len(levels) + 1
    key_neg = np.sort(groups[subset.neg] * width + np.searchsorted(levels, scores[subset.neg]))
    g_pos = groups[subset.pos].astype(np.int64)
    key_pos = g_pos * width + np.searchsorted(levels, scores[subset.pos])
    first = np.searchsorted(key_neg, g_pos * width, "left")
    below = np.searchsorted(key_neg, key_pos, "left") - first
    upto = np.searchsorted(key_neg, key_pos, "right") - first
    counts = np.bincount(g_pos, weights=(below + upto).astype(np.float64), minlength=n_groups)
    return np.asarray(counts, dtype=np.float64)


def acceleration(jackknife: FloatArray, cells: IntArray) -> float:
    """BCa acceleration from jackknife values, per stratification cell (as scipy does)."""
    keep = np.isfinite(jackknife)
    values, cells = jackknife[keep], cells[keep]
    if len(values) == 0:
        return float("nan")
    _, cells = np.unique(cells, return_inverse=True)
    size = np.bincount(cells).astype(np.float64)
    mean = np.bincount(cells, weights=values) / size
    u = (size[cells] - 1) * (mean[cells] - values)
    num = float(np.sum(np.bincount(cells, weights=u**3) / size**3))
    den = float(np.sum(np.bincount(cells, weights=u**2) / size**2))
    return num / (6.0 * den**1.5) if den > 0 else 0.0


def interval(
    estimate: float,
    distribution: FloatArray,
    method: str,
    confidence_level: float,
    *,
    jackknife: FloatArray | None = None,
    cells: IntArray | None = None,
) -> tuple[float, float]:
    """Two-sided bootstrap interval by ``method`` from the replicates (NaNs excluded)."""
    dist = distribution[np.isfinite(distribution)]
    if len(dist) == 0 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    alpha = (1.0 - confidence_level) / 2.0
    if method == "percentile":
        low, high = np.quantile(dist, [alpha, 1.0 - alpha])
        return float(low), float(high)
    if method == "basic":
        low, high = np.quantile(dist, [alpha, 1.0 - alpha])
        return float(2 * estimate - high), float(2 * estimate - low)
    if jackknife is None or cells is None:
        raise ValueError("BCa needs jackknife values and their cells.")
    share_below = (np.count_nonzero(dist < estimate) + np.count_nonzero(dist <= estimate)) / (
        2.0 * len(dist)
    )
    z0 = normal_quantile(share_below)
    a = acceleration(jackknife, cells)
    if not (np.isfinite(z0) and np.isfinite(a)):
        return float("nan"), float("nan")
    adjusted = [
        normal_cdf(z0 + (z0 + z) / (1.0 - a * (z0 + z)))
        for z in (normal_quantile(alpha), normal_quantile(1.0 - alpha))
    ]
    low, high = np.quantile(dist, adjusted)
    return float(low), float(high)


def bootstrap_ci(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    method: str = "percentile",
    stratify: bool = True,
    groups: npt.ArrayLike | None = None,
    random_state: RandomState = None,
    n_jobs: int | None = None,
) -> AUCResult:
    """AUC with a bootstrap confidence interval (percentile, basic or BCa).

    Resampling is stratified by class by default, as in R's pROC: every resample keeps
    the numbers of positives and negatives. With ``groups`` (patient or study ids) whole
    groups are resampled instead, so that all images of a drawn patient come along; with
    ``stratify=True`` groups that contain a positive and groups that do not are resampled
    separately.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels (booleans or 0/1).
    y_score : array-like of shape (n_samples,)
        Finite scores; higher means more likely positive.
    n_resamples : int, default 2000
        Number of bootstrap replicates.
    confidence_level : float, default 0.95
        Nominal coverage of the interval.
    method : {"percentile", "basic", "bca"}, default "percentile"
        Percentile (pROC's method), basic (reverse percentile), or bias-corrected and
        accelerated (Efron 1987; acceleration from the exact jackknife).
    stratify : bool, default True
        Keep the class sizes (or, with groups, the numbers of groups with and without a
        positive) fixed in every resample.
    groups : array-like of shape (n_samples,), optional
        Cluster ids; resample clusters instead of cases.
    random_state : int, numpy.random.Generator or None
        Seed of the resampling. The same seed gives the same interval, whatever the size
        of the internal chunks and the number of threads.
    n_jobs : int or None, default None
        Threads that compute chunks of replicates, in scikit-learn's convention: ``None``
        or ``-1`` every CPU the process may use (its affinity mask, capped by
        :mod:`threadpoolctl` limits), ``-k`` all but ``k - 1`` of them, ``1`` the
        calling thread only. Each thread takes a task of replicates at a time and works
        through it in passes over arrays of at most ``2**19`` counts (4 MiB) or one
        replicate's counts (8 bytes per case), reused from pass to pass: each thread
        adds about 40-70 MiB at a million cases (measured), whatever ``n_resamples``. The
        result is the same for every value.

    Returns
    -------
    AUCResult
        ``standard_error`` is the standard deviation of the replicates, and
        ``bootstrap_distribution`` holds them in replicate order. Replicates that have one
        class only (possible without stratification) are NaN, excluded from the interval,
        and counted in an :class:`~hstrat.exceptions.UndefinedMetricWarning`.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.metrics import bootstrap_ci
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(60), np.zeros(140)]
    >>> s = rng.normal(size=200) + y
    >>> r = bootstrap_ci(y, s, n_resamples=500, random_state=0)
    >>> r.method, r.ci_low < r.estimate < r.ci_high
    ('bootstrap-percentile', True)
    """
    level = check_confidence_level(confidence_level)
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    method = check_option(method, "method", BOOTSTRAP_METHODS)
    if not isinstance(stratify, (bool, np.bool_)):
        raise TypeError(f"stratify must be True or False; got {stratify!r}.")
    y, s, cases = check_binary_inputs(y_true, y_score)
    g = None if groups is None else check_groups(cases.align(groups, "groups"), len(y))
    rng = check_random_state(random_state)
    n_jobs = check_n_jobs(n_jobs)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    label = f"bootstrap-{method}"
    if warn_if_undefined(len(pos), len(neg)):
        nan = float("nan")
        return AUCResult(nan, nan, nan, nan, level, label, len(pos), len(neg))
    cells = resampling_cells(y, g, stratify)
    resampler = Resampler(y, s, n_resamples, rng, cells=cells, groups=g)
    subset = Subset(pos, neg)
    dist = bootstrap_aucs(s, [subset], resampler, n_jobs=n_jobs)[:, 0]
    warn_undefined_replicates(dist, "the AUC")
    estimate = placements(s, pos, neg).theta
    jack = jackknife_aucs(s, subset, len(y), g) if method == "bca" else None
    # Without stratification every unit is in one cell (as in stratified_auc).
    unit_cells = cells if cells is not None else np.zeros(resampler.n_units, np.intp)
    low, high = interval(estimate, dist, method, level, jackknife=jack, cells=unit_cells)
    se = float(np.nanstd(dist, ddof=1)) if np.isfinite(dist).sum() > 1 else float("nan")
    return AUCResult(estimate, low, high, se, level, label, len(pos), len(neg), dist)


def resampling_cells(
    y: npt.NDArray[np.bool_],
    groups: IntArray | None,
    stratify: bool,
    extra: IntArray | None = None,
) -> IntArray | None:
    """Cells of the resampled units: class (and ``extra`` codes) per case, or per cluster."""
    if not stratify:
        return None
    if groups is None:
        key = y.astype(np.intp) if extra is None else extra * 2 + y
        return np.unique(key, return_inverse=True)[1].astype(np.intp)
    has_pos = (
        np.bincount(groups, weights=y.astype(np.float64), minlength=int(groups.max()) + 1) > 0
    )
    return has_pos.astype(np.intp)


def warn_undefined_replicates(distribution: FloatArray, what: str) -> int:
    """Warn about replicates in which ``what`` was undefined; return how many."""
    bad = int(np.count_nonzero(~np.isfinite(distribution)))
    if bad:
        warnings.warn(
            f"{bad} of {len(distribution)} bootstrap resamples had no positive or no negative "
            f"case for {what}; they are excluded from its interval.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
    return bad
