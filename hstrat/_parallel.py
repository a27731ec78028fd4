"""One rule for parallel work: how many worker threads, and how many BLAS threads each.

Every parallel part of hstrat follows it: the bootstrap's chunks of replicates, and the
detectors' stability refits (``ClusterDetector(n_jobs=)``):

* ``n_jobs`` reads as in scikit-learn: a positive count is that many workers, ``-1``
  every available CPU, ``-2`` all but one, and so on; ``None`` is every available CPU
  (scikit-learn would run one). Available CPUs are those of the process's affinity mask
  (``os.sched_getaffinity``), capped by the thread count of every BLAS and OpenMP
  library that :mod:`threadpoolctl` sees, so ``threadpool_limits(1)``,
  ``OMP_NUM_THREADS=1`` or a call made inside another hstrat worker runs on one thread.
* Workers are threads (:func:`parallel_map`): numpy releases the GIL inside the kernels
  that do the work, and threads read the inputs without copying them.
* While ``W`` workers run, BLAS and OpenMP get ``max(1, available // W)`` threads each,
  so the process never runs more threads than CPUs. BLAS limits are process-wide: the
  first pool to start sets them and the last to finish restores them. OpenMP limits
  are per thread: each worker sets its own.
* A result must not depend on ``n_jobs``: each task draws from its own random stream
  (``SeedSequence.spawn``) and results come back in the order of the tasks.

A detector's bootstrap or stability refits, for instance, take ``n_jobs`` from the caller,
check it with :func:`effective_n_jobs` before any work, and run::

    seeds = rng.bit_generator.seed_seq.spawn(n_refits)  # one stream per refit
    fits = parallel_map(refit, seeds, n_jobs=n_jobs)    # in seed order, whatever n_jobs

Inside ``refit`` scikit-learn's k-means (OpenMP) and PCA (BLAS) then run on their share
of the CPUs, and an hstrat bootstrap called there with the default ``n_jobs=None`` runs
in that worker alone. A single small fit runs on one thread (:func:`threads_for`), and so
do the refits around it. Memory grows with the number of workers: each holds its own
working arrays.
"""

from __future__ import annotations

import numbers
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from ._validation import describe

__all__ = [
    "SMALL_PROBLEM",
    "available_cpus",
    "check_n_jobs",
    "effective_n_jobs",
    "parallel_map",
    "threads_for",
]

#: Cases times dimensions below which one fit (a k-means, a mixture, a PCA) runs on one
#: thread: at the sizes a detector fits by default (at most 20,000 cases x 50 components
#: per class) threads gain little and, on a busy machine, lose a lot (measured on a loaded
#: 2-core machine: two OpenMP threads made a 600-case k-means fifty times slower, two
#: LAPACK threads a 1,024 x 1,024 eigendecomposition ten times slower, than one).
SMALL_PROBLEM = 2_000_000

T = TypeVar("T")
R = TypeVar("R")


def available_cpus(controller: Any = None) -> int:
    """CPUs this process may use: its affinity mask, capped by BLAS/OpenMP thread limits.

    Examples
    --------
    >>> from threadpoolctl import threadpool_limits
    >>> with threadpool_limits(limits=1):
    ...     available_cpus()
    1
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    controller = ThreadpoolController() if controller is None else controller
    limits = [lib.num_threads for lib in controller.lib_controllers]
    return max(1, int(min([cpus, *[n for n in limits if n and n > 0]])))


def check_n_jobs(n_jobs: int | None, name: str = "n_jobs") -> int | None:
    """Check ``n_jobs`` (``None`` or a non-zero integer) without counting CPUs.

    Examples
    --------
    >>> check_n_jobs(-1)
    -1
    """
    value: object = n_jobs  # checked as any object: callers pass anything
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be None or a non-zero integer (-1 = every CPU); "
            f"got {describe(value)} of type {type(value).__name__}."
        )
    if value == 0:
        raise ValueError(f"{name} must be None or a non-zero integer (-1 = every CPU); got 0.")
    return int(value)


def effective_n_jobs(n_jobs: int | None, name: str = "n_jobs", *, cpus: int | None = None) -> int:
    """Return the number of worker threads that ``n_jobs`` asks for (at least 1).

    Parameters
    ----------
    n_jobs : int or None
        ``None`` or ``-1``: every available CPU (see :func:`available_cpus`); a negative
        count ``-k``: all but ``k - 1`` of them (at least one); a positive count: that
        many. ``0``, booleans and non-integers are refused.
    name : str
        Argument name for error messages.
    cpus : int, optional
        Available CPUs, when the caller has counted them.

    Examples
    --------
    >>> effective_n_jobs(3)
    3
    >>> effective_n_jobs(None) == effective_n_jobs(-1) >= 1
    True
    """
    count = check_n_jobs(n_jobs, name)
    if count is not None and count > 0:
        return count
    cpus = available_cpus() if cpus is None else cpus
    return cpus if count is None else max(1, cpus + 1 + count)


class _BlasLimit:
    """Process-wide BLAS limit shared by concurrent pools: first in sets, last out restores."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: Any = None

    @contextmanager
    def __call__(self, controller: Any, threads: int) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._limiter = controller.select(user_api="blas").limit(limits=threads)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._limiter.restore_original_limits()
                    self._limiter = None


_blas_limit = _BlasLimit()


def threads_for(n_elements: int) -> AbstractContextManager[Any]:
    """One BLAS/OpenMP thread for a fit of fewer than :data:`SMALL_PROBLEM` elements.

    Larger fits use the thread pools as configured (or as :func:`parallel_map` limits
    them while its workers run).

    Examples
    --------
    >>> with threads_for(10):
    ...     pass
    """
    if n_elements < SMALL_PROBLEM:
        from threadpoolctl import threadpool_limits

        limits: AbstractContextManager[Any] = threadpool_limits(limits=1)
        return limits
    return nullcontext()


def parallel_map(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    n_jobs: int | None,
    on_result: Callable[[R], object] | None = None,
) -> list[R]:
    """Return ``[func(item) for item in items]``, computed by up to ``n_jobs`` threads.

    With one worker (``n_jobs=1``, or a single item) the items run in the calling
    thread, in order, and nothing else happens. Otherwise BLAS and OpenMP are limited as
    the module docstring says while the workers run. ``on_result`` is called in the
    calling thread with each result, in the order of ``items`` (for a progress bar). If
    a call raises, the items not yet started are cancelled and the error is re-raised.

    Examples
    --------
    >>> parallel_map(lambda x: x * x, range(5), n_jobs=2)
    [0, 1, 4, 9, 16]
    """
    todo = list(items)
    n_jobs = check_n_jobs(n_jobs)
    results: list[R] = []
    controller: Any = None
    workers = cpus = 1
    if len(todo) > 1 and n_jobs != 1:
        controller = ThreadpoolController()  # counting CPUs costs milliseconds: only here
        cpus = available_cpus(controller)
        workers = min(effective_n_jobs(n_jobs, cpus=cpus), len(todo))
    if workers == 1:
        for item in todo:
            results.append(func(item))
            if on_result is not None:
                on_result(results[-1])
        return results
    inner = max(1, cpus // workers)
    openmp = controller.select(user_api="openmp")
    pool = ThreadPoolExecutor(workers, initializer=lambda: openmp.limit(limits=inner))
    with _blas_limit(controller, inner):
        try:
            futures = [pool.submit(func, item) for item in todo]
            for future in futures:
                results.append(future.result())
                if on_result is not None:
                    on_result(results[-1])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return results
