"""The one rule for parallel work: worker counts, BLAS/OpenMP limits, order and errors."""

import threading

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from hstrat import _parallel
from hstrat._parallel import available_cpus, effective_n_jobs, parallel_map


@pytest.fixture
def four_cpus(monkeypatch):
    monkeypatch.setattr(_parallel.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(_parallel, "ThreadpoolController", _NoLibraries)


class _NoLibraries:
    lib_controllers = ()


@pytest.mark.parametrize(
    ("n_jobs", "expected"), [(None, 4), (-1, 4), (-2, 3), (-4, 1), (-9, 1), (1, 1), (6, 6)]
)
def test_n_jobs_counts_like_scikit_learn(four_cpus, n_jobs, expected):
    assert effective_n_jobs(n_jobs) == expected


def test_available_cpus_follow_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(_parallel.os, "sched_getaffinity", lambda pid: {3})
    assert available_cpus() == 1
    assert effective_n_jobs(None) == 1


def test_available_cpus_honour_threadpool_limits():
    with threadpool_limits(limits=1):
        assert available_cpus() == 1
        assert effective_n_jobs(-1) == 1


@pytest.mark.parametrize(
    ("n_jobs", "error", "pattern"),
    [
        (0, ValueError, r"n_jobs must be None or a non-zero integer .*; got 0\."),
        (1.5, TypeError, r"n_jobs must be None or a non-zero integer .*; got 1\.5 of type float"),
        (True, TypeError, r"n_jobs .* got True of type bool"),
        ("2", TypeError, r"n_jobs .* got '2' of type str"),
    ],
)
def test_bad_n_jobs_names_the_argument_and_value(n_jobs, error, pattern):
    with pytest.raises(error, match=pattern):
        effective_n_jobs(n_jobs)
    with pytest.raises(error, match=pattern):
        parallel_map(abs, [1], n_jobs=n_jobs)  # checked even when one item needs no pool


def test_results_and_callbacks_come_in_item_order_from_the_calling_thread():
    seen = []
    caller = threading.get_ident()

    def slow_first(i):
        if i == 0:
            threading.Event().wait(0.05)
        return i * i, threading.get_ident()

    def on_result(result):
        seen.append((result[0], threading.get_ident() == caller))

    results = parallel_map(slow_first, range(6), n_jobs=3, on_result=on_result)
    assert [r[0] for r in results] == [0, 1, 4, 9, 16, 25]
    assert seen == [(i * i, True) for i in range(6)]


def test_one_worker_runs_in_the_calling_thread():
    caller = threading.get_ident()
    assert parallel_map(lambda _: threading.get_ident(), range(3), n_jobs=1) == [caller] * 3
    assert parallel_map(lambda _: threading.get_ident(), [0], n_jobs=4) == [caller]


def test_an_error_cancels_the_rest_and_propagates():
    started = []

    def fail_on_two(i):
        started.append(i)
        if i == 2:
            raise RuntimeError("boom")
        threading.Event().wait(0.01)
        return i

    with pytest.raises(RuntimeError, match="boom"):
        parallel_map(fail_on_two, range(200), n_jobs=2)
    assert len(started) < 200


def test_workers_run_with_limited_blas_and_openmp_and_limits_are_restored():
    before = [lib["num_threads"] for lib in threadpool_info()]
    cpus = available_cpus()
    inside = parallel_map(lambda _: (available_cpus(), effective_n_jobs(None)), range(4), n_jobs=2)
    # Two workers get half the CPUs each for BLAS/OpenMP, so work nested in a worker
    # asks for no more than its share.
    assert inside == [(max(1, cpus // 2), max(1, cpus // 2))] * 4
    assert [lib["num_threads"] for lib in threadpool_info()] == before
