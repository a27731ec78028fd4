"""Exceptions and warnings raised by hstrat.

All errors caused by bad user input are ``ValueError`` or ``TypeError`` (so that
ordinary ``except ValueError`` code keeps working); the classes here add a common
base, :class:`HstratError`, for callers that want to catch hstrat's own failures.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CacheError",
    "HstratError",
    "SchemaError",
    "SmallStratumWarning",
    "UndefinedMetricWarning",
]


class HstratError(Exception):
    """Base class of every exception hstrat raises on purpose."""


class SchemaError(HstratError, ValueError):
    """A subclass schema, or labels checked against it, are invalid.

    Every problem found is listed at once in :attr:`problems`, so that an annotator can
    fix a labels file in one pass instead of one error at a time.

    Parameters
    ----------
    problems : sequence of str
        One human-readable sentence per problem.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class CacheError(HstratError, ValueError):
    """A ``cache=`` directory cannot be used: damaged, or written for another pass.

    Another model, other options or other data (a batch unlike the one cached), or files
    missing or truncated; the message names the directory and the remedy.
    """


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for a stratum (one class only, or empty) and is NaN."""


class SmallStratumWarning(UserWarning):
    """A stratum is so small that its interval or test is unreliable."""
