"""Permutation test of a stratum's AUC against the rest of its population.

Wald tests (DeLong's, or a z built on the bootstrap standard error) reject a true null
too often when a stratum holds a few dozen cases and the AUC is high: the placements of
its positives pile up near 1 and their variance is underestimated (null simulations in
``tests/metrics/test_permutation.py``: 10% at alpha = 0.05 for 20 positives at AUC 0.9).
The permutation test is exact at every size instead. Its null is that membership in the
stratum is exchangeable, within each class, among the cases the comparison uses (the
stratum and its complement); a class the two share whole (every negative, for a stratum
of positives) is not permuted. Each permutation draws, per permuted class, which of the
pooled cases form the stratum; the statistic ``T = AUC(stratum) - AUC(reference)`` is
recomputed with the counting pass of :mod:`hstrat.metrics._bootstrap` (0/1 counts), and

    p = (1 + #{b : |T*_b| >= |T|}) / (1 + B)

is a valid Monte-Carlo p-value (Phipson & Smyth 2010). Permutation ``b`` of comparison
``k`` draws from its own child stream, so the p-values do not depend on ``n_jobs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .._parallel import parallel_map
from ._bootstrap import CHUNK_ELEMENTS, Scratch, Subset, SubsetPlan
from ._delong import placements

__all__ = ["Comparison", "permutation_p_values"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
#: |T*| counts as extreme when it is within this of |T| (equal statistics computed in a
#: different order of additions must tie).
TIE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Comparison:
    """A stratum, its complement (the rest of its population) and the reference AUC's cases.

    ``reference`` is the complement itself (``reference="complement"``) or the overall
    AUC's cases, which the permutations leave as they are.
    """

    stratum: Subset
    complement: Subset
    reference: Subset


def _pool(s: FloatArray, stratum: IntArray, rest: IntArray) -> tuple[IntArray, IntArray | None]:
    """Cases of one class whose membership is permuted and the stratum's positions among them.

    The pool is in ascending order of score, so that the draws do not depend on the order
    of the caller's cases (tied cases are interchangeable). Positions are None for a class
    that the stratum and its complement share whole.
    """
    if np.array_equal(stratum, rest):
        return stratum, None
    pool = np.concatenate((stratum, rest))
    order = np.argsort(s[pool], kind="stable")
    return pool[order], np.flatnonzero(order < len(stratum))


def _p_value(
    s: FloatArray, comparison: Comparison, seeds: list[np.random.SeedSequence], n_jobs: int | None
) -> float:
    pos, own_pos = _pool(s, comparison.stratum.pos, comparison.complement.pos)
    neg, own_neg = _pool(s, comparison.stratum.neg, comparison.complement.neg)
    ref, rest = comparison.reference, comparison.complement
    fixed = not (np.array_equal(ref.pos, rest.pos) and np.array_equal(ref.neg, rest.neg))
    reference_auc = placements(s, ref.pos, ref.neg).theta if fixed else np.nan
    if own_pos is None or own_neg is None:
        # One class shared whole: an AUC against it is the mean placement of the other
        # class's cases, so a permutation only re-draws which placements are averaged.
        p = placements(s, pos, neg)
        values, own = (p.v_neg, own_neg) if own_pos is None else (p.v_pos, own_pos)
        m = len(own)  # type: ignore[arg-type]
        total, size = float(values.sum()), len(values)

        def shared_statistic(own: IntArray) -> float:
            part = float(values[own].sum())
            return abs(part / m - (reference_auc if fixed else (total - part) / (size - m)))

        observed = shared_statistic(own)  # type: ignore[arg-type]
        drawn = [
            shared_statistic(np.random.default_rng(seed).choice(size, m, replace=False))
            for seed in seeds
        ]
        return _monte_carlo(np.array(drawn), observed)
    scores = np.concatenate((s[pos], s[neg]))
    y = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
    order = np.lexsort((scores, y)).astype(np.intp)  # the counting pass's order
    rank = np.empty(len(order), np.intp)
    rank[order] = np.arange(len(order))
    plan = SubsetPlan(scores, [Subset(np.flatnonzero(y), np.flatnonzero(~y))], order)
    classes = [(rank[: len(pos)], own_pos), (rank[len(pos) :], own_neg)]

    def rows(rng: np.random.Generator | None) -> npt.NDArray[np.int64]:
        """Return the counts of the stratum (row 0) and its complement (row 1), plan order."""
        out = np.zeros((2, len(order)), np.int64)
        for where, own in classes:
            out[0, where[own if rng is None else rng.permutation(len(where))[: len(own)]]] = 1
            out[1, where] = 1 - out[0, where]
        return out

    def statistic(counts: npt.NDArray[np.int64], scratch: Scratch | None = None) -> FloatArray:
        aucs = plan.aucs(counts, scratch)[:, 0]
        return np.abs(aucs[0::2] - (reference_auc if fixed else aucs[1::2]))

    observed = float(statistic(rows(None))[0])
    values = np.empty(len(seeds))
    per_task = max(1, CHUNK_ELEMENTS // (2 * len(order)))
    scratch = Scratch()

    def fill(start: int) -> int:
        stop = min(len(seeds), start + per_task)
        counts = [rows(np.random.default_rng(seeds[b])) for b in range(start, stop)]
        values[start:stop] = statistic(np.concatenate(counts), scratch)
        return stop - start

    parallel_map(fill, range(0, len(seeds), per_task), n_jobs=n_jobs)
    return _monte_carlo(values, observed)


def _monte_carlo(statistics: FloatArray, observed: float) -> float:
    return float(
        (1 + np.count_nonzero(statistics >= observed - TIE_TOLERANCE)) / (1 + len(statistics))
    )


def permutation_p_values(
    s: FloatArray,
    comparisons: Sequence[Comparison | None],
    n_permutations: int,
    rng: np.random.Generator,
    n_jobs: int | None = 1,
) -> FloatArray:
    """Two-sided permutation p-value of every comparison (NaN where it is ``None``)."""
    streams = rng.bit_generator.seed_seq.spawn(len(comparisons))  # type: ignore[attr-defined]
    return np.array(
        [
            np.nan if c is None else _p_value(s, c, stream.spawn(n_permutations), n_jobs)
            for c, stream in zip(comparisons, streams, strict=True)
        ]
    )
