"""Thread use of small clustering problems.

k-means (OpenMP), Gaussian mixtures and the PCA's eigendecomposition (BLAS/LAPACK on
d x d matrices) gain little from threads at the sizes a detector fits by default
(at most 20,000 cases x 50 components per class), and lose a lot when the machine is
busy: measured on a loaded 2-core machine, two OpenMP threads made a 600-case k-means
fifty times slower, and two LAPACK threads a 1,024 x 1,024 eigendecomposition ten times
slower, than one. Problems below :data:`SMALL_PROBLEM` elements (cases x dimensions
clustered) therefore run single-threaded, which covers the defaults; larger ones use the
thread pools as configured (limit them with :func:`threadpoolctl.threadpool_limits`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

__all__ = ["SMALL_PROBLEM", "limited_threads"]

#: Cases times dimensions below which clustering runs on one thread.
SMALL_PROBLEM = 2_000_000


def limited_threads(n_elements: int) -> AbstractContextManager[Any]:
    """One thread for a problem of fewer than :data:`SMALL_PROBLEM` elements, else as is.

    Examples
    --------
    >>> with limited_threads(10):
    ...     pass
    """
    if n_elements < SMALL_PROBLEM:
        limits: AbstractContextManager[Any] = threadpool_limits(limits=1)
        return limits
    return nullcontext()
