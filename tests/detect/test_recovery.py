"""Recovery of planted failing subclasses by the default detector, and its null rate.

For each task the truth is known; the top-ranked cluster (cluster 0) is compared with
the planted subclass by precision (share of the cluster that is the subclass) and recall
(share of the subclass inside it), over all cases. ``benchmarks/bench_discovery.py``
measures the same over 142 tasks against three baselines; the thresholds here are set
from its numbers with a margin, not from these tasks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from planted import digits_task, discovery_suite, model_fails, top_cluster_recovery

from hstrat.detect import ClusterDetector
from hstrat.metrics import stratified_auc


def test_planted_subclass_is_the_top_cluster(planted):
    """Synthetic: 2,000 cases, 32-d, a hidden fifth of the positives scored 2 SD lower:
    recovered exactly (precision and recall 1.00 with seed 0)."""
    det = ClusterDetector(n_stability=3, random_state=0)
    det.fit(planted.embeddings, y_true=planted.y_true, y_score=planted.y_score)
    precision, recall = top_cluster_recovery(det.labels_, planted.subclass)
    assert precision >= 0.95
    assert recall >= 0.95
    top = det.clusters_.iloc[0]
    assert top["class"] == "positives"
    assert top["stability"] > 0.9


def test_rare_digit_is_the_top_cluster(digits):
    """Digits, even vs odd, 8 kept at 5% in training: the MLP misses 61% of test 8s.
    The top cluster is 89% eights and holds 94% of them (seed 0)."""
    det = ClusterDetector(n_stability=3, random_state=0)
    det.fit(digits.embeddings, y_true=digits.y_true, y_score=digits.y_score)
    precision, recall = top_cluster_recovery(det.labels_, digits.subclass)
    assert precision >= 0.85
    assert recall >= 0.85
    ex = det.exemplars(k=8)
    central = ex[(ex["cluster"] == 0) & (ex["kind"] == "central")]["position"].to_numpy()
    assert digits.subclass[central].mean() >= 0.75  # what a reviewer would see first


def test_the_issues_example_is_found():
    """Digits >= 5, the 8s kept at 8%, a 32-unit MLP: the old detectors ranked first a
    cluster of negatives no worse than the rest; the default ranks the eights first
    (precision 0.82, recall 0.71 with seed 0; 0.69-0.77 / 0.74-0.80 over seeds 1-5)."""
    task = digits_task(split=">=5", rare_digit=8, keep_share=0.08, hidden=32, random_state=0)
    det = ClusterDetector(n_stability=0, random_state=0)
    det.fit(task.embeddings, y_true=task.y_true, y_score=task.y_score)
    precision, recall = top_cluster_recovery(det.labels_, task.subclass)
    assert precision >= 0.5
    assert recall >= 0.5


def _subset(every: int) -> list:
    """Every ``every``-th task of the design suite (seed 0), built."""
    return [make() for make in list(discovery_suite(0))[::every]]


def _recovery(tasks) -> tuple[float, float]:
    found, f1 = [], []
    for index, task in enumerate(tasks):
        det = ClusterDetector(n_stability=0, random_state=index)
        det.fit(task.embeddings, y_true=task.y_true, y_score=task.y_score)
        precision, recall = top_cluster_recovery(det.labels_, task.subclass)
        found.append(precision >= 0.5 and recall >= 0.5)
        f1.append(
            0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        )
    return float(np.mean(found)), float(np.mean(f1))


@pytest.mark.slow
def test_recovery_on_a_fixed_subset_of_the_suite():
    """One task in four of the design suite where the model fails (about 24 tasks).

    On eight fresh suites (the benchmark, 738 failing tasks) the default recovers 0.74 of
    the subclasses with a mean F1 of 0.72, and single suites range over about +-0.08: the
    thresholds leave a margin of 0.14 below the fresh suites for this smaller sample (here
    0.87 / 0.85 with these seeds; without the split of the leader 0.78 / 0.80).
    """
    tasks = [t for t in _subset(4) if model_fails(t)]
    assert len(tasks) >= 20
    rate, f1 = _recovery(tasks)
    assert rate >= 0.60
    assert f1 >= 0.58


def _significant(task, seed: int) -> bool:
    det = ClusterDetector(n_stability=0, random_state=seed)
    det.fit(task.embeddings, y_true=task.y_true, y_score=task.y_score)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small clusters' notes
        table = stratified_auc(
            task.y_true, task.y_score, det.to_strata(), ci="delong", correction="holm"
        )
    return bool((table["p_adjusted"].iloc[1:] < 0.05).any())


@pytest.mark.slow
def test_null_tasks_are_rarely_significant():
    """The suite's 24 null tasks (structure, no failure): a held-out cluster is
    significant after Holm's adjustment in about the nominal 5% of them (binomial(24,
    0.05) exceeds 4 with probability 0.03)."""
    nulls = [make() for make in discovery_suite(0, family="null")]
    assert len(nulls) == 24
    assert all(task.is_null for task in nulls)
    rejected = sum(_significant(task, seed) for seed, task in enumerate(nulls))
    assert rejected <= 4


@pytest.mark.slow
def test_benchmark_quick_subset_runs():
    """The benchmark's ``--quick`` subset (8 tasks, every method) as a smoke test."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_discovery import methods, run_suite, summary

    results = run_suite(0, True, methods())
    assert results["task"].nunique() == 8
    assert set(results["method"]) == set(methods())
    table = summary(results)
    assert "| ClusterDetector() (default) |" in table
    assert "Null tasks" in table
    # the paired line against the naive baseline, recomputed from the rows
    failing = results[(results["family"] != "null") & results["fails"]]
    wide = failing.pivot_table(index="task", columns="method", values="recovered")
    diff = wide["ClusterDetector() (default)"] - wide["naive worst-error k-means"]
    half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff))
    row = f"{diff.mean():+.3f} ({diff.mean() - half:+.3f}, {diff.mean() + half:+.3f})"
    assert f"| naive worst-error k-means | {row} |" in table
