"""How many times each unit is drawn: the one step of a bootstrap replicate numpy serializes.

``numpy.bincount`` checks its input's range and allocates its zero-filled output while
holding the interpreter lock, so two threads counting at once run slower in all than
one (``benchmarks/bench_thread_scaling.py``). With numba installed
(``pip install "hstrat-audit[fast]"``), the count runs in a compiled loop that releases
the lock and writes into the caller's reused buffer; without it, ``bincount`` counts.
Both give the same integers, so the choice changes the speed, never a number.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["count_draws", "counting_kernel"]

Kernel = Callable[[npt.NDArray[np.intp], npt.NDArray[np.int64]], None]


@functools.cache
def counting_kernel() -> Kernel | None:
    """Return the compiled counting loop, or None without numba (compiled once per process)."""
    try:
        import numba
    except ImportError:
        return None

    def count(draws: Any, out: Any) -> None:  # pragma: no cover - runs compiled
        out[:] = 0
        for i in range(draws.shape[0]):
            out[draws[i]] += 1

    try:
        kernel: Kernel = numba.njit("void(intp[::1], int64[::1])", nogil=True)(count)
    except Exception as error:  # an optional accelerator must not stop an audit
        warnings.warn(
            f"numba {getattr(numba, '__version__', '?')} could not compile hstrat's counting "
            f"loop ({type(error).__name__}: {error}); the bootstrap counts with numpy instead "
            "(the same numbers, more slowly).",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return kernel


def count_draws(
    draws: npt.NDArray[np.intp], out: npt.NDArray[np.int64], kernel: Kernel | None
) -> npt.NDArray[np.int64]:
    """Write into ``out`` how many of ``draws`` equal each of ``0..len(out)-1``; return it.

    ``draws`` and ``out`` are C-contiguous, every draw is in range (the callers draw
    them so), and ``kernel`` is :func:`counting_kernel`'s result, fetched once by the
    caller rather than in every thread.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.metrics._counting import count_draws, counting_kernel
    >>> count_draws(np.array([2, 0, 2]), np.empty(4, np.int64), counting_kernel())
    array([1, 0, 2, 0])
    """
    if kernel is None:
        out[:] = np.bincount(draws, minlength=len(out))
    else:
        kernel(draws, out)
    return out
