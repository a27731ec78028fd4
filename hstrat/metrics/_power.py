"""Planning a subclass audit: how many labelled cases, and what gap they can show.

Labelling a subclass costs expert time, so before labelling one wants to know how many
subclass positives are needed to show that the model is worse on them, and, with the
labels in hand, which gap could have been detected at all. The answers here assume:

* **Hanley & McNeil (1982)**: the variance of an AUC estimated from ``m`` positives and
  ``n`` negatives is

  ``Var(A) = [A(1 - A) + (m - 1)(Q1 - A²) + (n - 1)(Q2 - A²)] / (m n)``,

  with ``Q1 = A / (2 - A)`` and ``Q2 = 2A² / (1 + A)``. These are exact when the scores
  of positives and negatives follow exponential distributions (any monotone transform
  of them) and a good approximation for binormal scores.
* **The test hstrat runs**: a two-sided Wald (DeLong) test of ``AUC_stratum -
  AUC_reference`` at level ``alpha``. Its standard error is estimated from the data, so
  it is the one *at the estimate*: the test rejects below the critical AUC ``t_low``
  that solves ``A_r - t = z·sd(t)`` (and above ``t_high``, ``t - A_r = z·sd(t)``), with
  ``z = Φ⁻¹(1 - alpha/2)``. The estimate is normal around the stratum's true AUC
  ``A_s`` with ``sd(A_s)``, so power = ``Φ((t_low - A_s)/sd(A_s)) + 1 - Φ((t_high -
  A_s)/sd(A_s))``. This refines Obuchowski's (1998) ``z·sd_0 + z_power·sd_1 = |Δ|``
  (standard errors under the null and the alternative): in simulations of the
  exponential model it is within about 0.02 of the DeLong test's power, where using
  ``sd(A_s)`` throughout understates power by up to 0.05.
* **The reference** is one of

  - a **known value** (``n_pos_reference=None``): the variance is the stratum's alone;
  - ``design="shared_negatives"`` (default): the reference is the AUC of the other
    ``n_pos_reference`` positives against the **same** ``n_neg`` negatives, as when a
    stratum of positives (pneumothorax without a drain) is compared with its complement
    (with a drain). The shared negatives correlate the two estimates:
    ``Cov = (Q12 - A_s A_r) / n_neg`` with ``Q12 = 1 / (1 + λ_s + λ_r)``,
    ``λ = (1 - A) / A``, the exponential model's probability that a positive of each
    group outranks one negative;
  - ``design="independent"``: the reference comes from separate cases
    (``n_pos_reference`` positives, ``n_neg_reference`` negatives), e.g. a subgroup
    against another subgroup.

A subclass that is *worse* than the reference is what hidden stratification means, so
:func:`detectable_auc_gap` searches below the reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .._validation import check_confidence_level, check_int, check_option
from ._normal import normal_cdf, normal_quantile

__all__ = ["auc_power", "auc_sample_size", "detectable_auc_gap", "hanley_mcneil_variance"]

DESIGNS: tuple[str, ...] = ("shared_negatives", "independent")
_MAX_N = 10**9


def _optional_count(value: Any, name: str) -> int | None:
    return None if value is None else check_int(value, name, minimum=1)


def _variance(a: float, m: float, n: float) -> float:
    """Hanley-McNeil variance; ``m = inf`` gives its limit with unlimited positives."""
    q1 = a / (2.0 - a)
    q2 = 2.0 * a * a / (1.0 + a)
    if math.isinf(m):
        return (q1 - a * a) / n
    return (a * (1.0 - a) + (m - 1.0) * (q1 - a * a) + (n - 1.0) * (q2 - a * a)) / (m * n)


def _bisect(f: Callable[[float], float], low: float, high: float) -> float:
    """Return a root of ``f`` between ``low`` and ``high``, where ``f`` changes sign."""
    f_low = f(low)
    for _ in range(200):
        mid = 0.5 * (low + high)
        f_mid = f(mid)
        if (f_mid > 0.0) == (f_low > 0.0):
            low, f_low = mid, f_mid
        else:
            high = mid
        if high - low < 1e-13:
            break
    return 0.5 * (low + high)


def hanley_mcneil_variance(auc: float, *, n_pos: int, n_neg: int) -> float:
    """Hanley & McNeil's (1982) variance of an AUC estimated on ``n_pos`` and ``n_neg`` cases.

    Parameters
    ----------
    auc : float
        The true AUC, in (0, 1).
    n_pos, n_neg : int
        Numbers of positive and negative cases.

    Returns
    -------
    float
        The variance (exact under the exponential score model).

    Examples
    --------
    >>> from hstrat.metrics import hanley_mcneil_variance
    >>> round(hanley_mcneil_variance(0.9, n_pos=50, n_neg=50) ** 0.5, 4)
    0.0321
    """
    a = check_confidence_level(auc, "auc")
    m = check_int(n_pos, "n_pos", minimum=1)
    n = check_int(n_neg, "n_neg", minimum=1)
    return _variance(a, m, n)


class _Plan:
    """The checked options shared by the three planning functions."""

    def __init__(
        self,
        auc_reference: Any,
        n_neg: Any,
        n_pos_reference: Any,
        n_neg_reference: Any,
        design: Any,
        alpha: Any,
    ) -> None:
        self.a_ref = check_confidence_level(auc_reference, "auc_reference")
        self.n = check_int(n_neg, "n_neg", minimum=1)
        self.m_ref = _optional_count(n_pos_reference, "n_pos_reference")
        self.design = check_option(design, "design", DESIGNS)
        n_ref = _optional_count(n_neg_reference, "n_neg_reference")
        if n_ref is not None and (self.design != "independent" or self.m_ref is None):
            raise ValueError(
                "n_neg_reference is only used with design='independent' and n_pos_reference; "
                f"got n_neg_reference={n_neg_reference!r}."
            )
        self.n_ref = self.n if n_ref is None else n_ref
        self.alpha = check_confidence_level(alpha, "alpha")
        self.z = normal_quantile(1.0 - self.alpha / 2.0)

    def variance(self, a_s: float, m: float) -> float:
        var = _variance(a_s, m, self.n)
        if self.m_ref is None:
            return var
        if self.design == "independent":
            return var + _variance(self.a_ref, self.m_ref, self.n_ref)
        var += _variance(self.a_ref, self.m_ref, self.n)
        lam_s, lam_r = (1.0 - a_s) / a_s, (1.0 - self.a_ref) / self.a_ref
        q12 = 1.0 / (1.0 + lam_s + lam_r)
        return var - 2.0 * (q12 - a_s * self.a_ref) / self.n

    def sd(self, a_s: float, m: float) -> float:
        """Return the standard error of ``AUC_s - AUC_r`` at stratum AUC ``a_s``."""
        return math.sqrt(max(self.variance(a_s, m), 0.0))

    def power(self, a_s: float, m: float) -> float:
        """Return the power of the plug-in Wald test (see the module docstring)."""
        edge = 1e-12
        sd = self.sd(a_s, m)

        def below(t: float) -> float:
            return (self.a_ref - t) - self.z * self.sd(t, m)

        def above(t: float) -> float:
            return (t - self.a_ref) - self.z * self.sd(t, m)

        power = 0.0
        if below(edge) > 0.0:
            t_low = _bisect(below, edge, self.a_ref)
            power += _normal_tail(t_low - a_s, sd)
        if above(1.0 - edge) > 0.0:
            t_high = _bisect(above, self.a_ref, 1.0 - edge)
            power += _normal_tail(a_s - t_high, sd)
        return min(power, 1.0)


def _normal_tail(distance: float, sd: float) -> float:
    """Return P(estimate beyond the critical value) = Φ(distance / sd)."""
    if sd == 0.0:
        return 1.0 if distance > 0.0 else 0.0
    return normal_cdf(distance / sd)


def auc_power(
    auc_stratum: float,
    auc_reference: float,
    *,
    n_pos: int,
    n_neg: int,
    n_pos_reference: int | None = None,
    n_neg_reference: int | None = None,
    design: str = "shared_negatives",
    alpha: float = 0.05,
) -> float:
    """Power of the test that a stratum's AUC differs from the reference's.

    Parameters
    ----------
    auc_stratum : float
        The stratum's true AUC, in (0, 1).
    auc_reference : float
        The reference's true AUC (the complement, or a known value).
    n_pos : int
        Labelled positives in the stratum.
    n_neg : int
        Negatives the stratum's AUC is computed against.
    n_pos_reference : int, optional
        Positives of the reference; ``None`` treats ``auc_reference`` as known exactly.
    n_neg_reference : int, optional
        Negatives of the reference with ``design="independent"`` (default ``n_neg``).
    design : {"shared_negatives", "independent"}, default "shared_negatives"
        Whether the reference uses the same negatives (see the module docstring).
    alpha : float, default 0.05
        Two-sided significance level.

    Returns
    -------
    float
        The probability of rejecting equality.

    Examples
    --------
    >>> from hstrat.metrics import auc_power
    >>> round(auc_power(0.77, 0.94, n_pos=40, n_neg=500, n_pos_reference=160), 3)
    0.978
    """
    plan = _Plan(auc_reference, n_neg, n_pos_reference, n_neg_reference, design, alpha)
    a_s = check_confidence_level(auc_stratum, "auc_stratum")
    m = check_int(n_pos, "n_pos", minimum=1)
    return plan.power(a_s, m)


def auc_sample_size(
    auc_stratum: float,
    auc_reference: float,
    *,
    n_neg: int,
    n_pos_reference: int | None = None,
    n_neg_reference: int | None = None,
    design: str = "shared_negatives",
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Labelled stratum positives needed to detect an AUC gap with the given power.

    Parameters
    ----------
    auc_stratum : float
        The AUC the stratum is feared to have (e.g. 0.77 for pneumothorax without a drain).
    auc_reference : float
        The reference's AUC (e.g. 0.94 with a drain, or a known overall value).
    n_neg : int
        Negatives available to the stratum's AUC.
    n_pos_reference, n_neg_reference, design, alpha
        As for :func:`auc_power`.
    power : float, default 0.8
        Wanted probability of detecting the gap.

    Returns
    -------
    int
        The smallest number of stratum positives whose power reaches ``power``.

    Raises
    ------
    ValueError
        When no number of positives suffices: the negatives (or the reference) limit
        the precision; the message gives the power reachable in the limit.

    Examples
    --------
    >>> from hstrat.metrics import auc_sample_size
    >>> auc_sample_size(0.77, 0.94, n_neg=500, n_pos_reference=160)
    20
    >>> auc_sample_size(0.85, 0.90, n_neg=1000)
    183
    """
    plan = _Plan(auc_reference, n_neg, n_pos_reference, n_neg_reference, design, alpha)
    a_s = check_confidence_level(auc_stratum, "auc_stratum")
    target = check_confidence_level(power, "power")
    if a_s == plan.a_ref:
        raise ValueError("auc_stratum equals auc_reference; there is no gap to detect.")
    if target <= plan.alpha:
        raise ValueError(f"power must exceed alpha ({plan.alpha}); got {target!r}.")
    reachable = plan.power(a_s, math.inf)
    if reachable <= target:
        raise ValueError(
            f"No number of stratum positives reaches power {target}: with n_neg={plan.n} "
            + (f"and n_pos_reference={plan.m_ref} " if plan.m_ref is not None else "")
            + f"the power cannot exceed {reachable:.3f}. Add negatives"
            + (" or reference positives." if plan.m_ref is not None else ".")
        )

    def enough(m: int) -> bool:
        return plan.power(a_s, m) >= target

    high = 1
    while not enough(high):
        high *= 2
        if high > _MAX_N:  # pragma: no cover - excluded by the limit check above
            raise ValueError("The sample size exceeds 10**9 positives.")
    low = high // 2
    while high - low > 1:
        mid = (low + high) // 2
        if enough(mid):
            high = mid
        else:
            low = mid
    return high


def detectable_auc_gap(
    n_pos: int,
    *,
    n_neg: int,
    auc_reference: float,
    n_pos_reference: int | None = None,
    n_neg_reference: int | None = None,
    design: str = "shared_negatives",
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Return the smallest AUC deficit ``n_pos`` labelled stratum positives can reveal.

    Parameters
    ----------
    n_pos : int
        Labelled positives in the stratum.
    n_neg : int
        Negatives the stratum's AUC is computed against.
    auc_reference : float
        The reference's AUC; the stratum's is searched below it.
    n_pos_reference, n_neg_reference, design, alpha
        As for :func:`auc_power`.
    power : float, default 0.8
        Wanted probability of detecting the gap.

    Returns
    -------
    float
        ``auc_reference - auc_stratum`` at which the power reaches ``power``; NaN when
        even a stratum AUC near 0 would not be detected so often.

    Examples
    --------
    >>> from hstrat.metrics import detectable_auc_gap
    >>> round(detectable_auc_gap(38, n_neg=500, auc_reference=0.9), 3)
    0.122
    """
    plan = _Plan(auc_reference, n_neg, n_pos_reference, n_neg_reference, design, alpha)
    m = check_int(n_pos, "n_pos", minimum=1)
    target = check_confidence_level(power, "power")
    if target <= plan.alpha:
        raise ValueError(f"power must exceed alpha ({plan.alpha}); got {target!r}.")

    def excess(gap: float) -> float:
        return plan.power(plan.a_ref - gap, m) - target

    top = plan.a_ref * (1.0 - 1e-9)
    if excess(top) < 0.0:
        return float("nan")
    return _bisect(excess, 1e-12, top)
