"""One rule for parallel work: how many worker threads, and how many BLAS threads each.

Followed by the bootstrap's chunks of replicates and the detectors' stability refits:

* ``n_jobs`` reads as in scikit-learn (``-1`` every available CPU, ``-2`` all but one),
  except that ``None`` is every available CPU. Available: the affinity mask, capped by
  every BLAS/OpenMP thread limit (``threadpool_limits(1)``, ``OMP_NUM_THREADS=1`` or a
  call inside another hstrat worker run on one thread).
* Workers are threads (:func:`parallel_map`): numpy releases the GIL in its kernels and
  threads share the inputs. While ``W`` run, BLAS and OpenMP get ``max(1, CPUs // W)``
  threads each (BLAS limits are process-wide: the first pool in sets them, the last out
  restores them; OpenMP limits are per thread).
* No result depends on ``n_jobs``: each task draws from its own ``SeedSequence.spawn``
  stream, and results come back in task order, e.g.
  ``parallel_map(refit, rng.bit_generator.seed_seq.spawn(n), n_jobs=n_jobs)``.
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

#: Cases times dimensions below which one fit (k-means, mixture, PCA) runs on one thread:
#: at a detector's sizes (<= 20,000 cases x 50 components) threads gain little, and on a
#: busy 2-core machine two made a 600-case k-means 50x, a 1,024² eigendecomposition 10x slower.
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

    ``None`` or ``-1``: every available CPU (:func:`available_cpus`, or ``cpus`` when the
    caller has counted them); ``-k``: all but ``k - 1`` of them; ``k > 0``: ``k``.

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

    One worker (``n_jobs=1``, or one item) runs them in the calling thread. ``on_result``
    gets each result in the calling thread, in order (for a progress bar). If a call
    raises, the items not yet started are cancelled and the error is re-raised.

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
