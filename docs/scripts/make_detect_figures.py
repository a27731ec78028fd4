"""Regenerate the figures of the algorithmic-measurement guide (run from the repository root).

python docs/scripts/make_detect_figures.py

Writes ``docs/img/detect-*.png`` and prints the tables quoted in
``docs/algorithmic-measurement.md``. Everything is seeded; it takes about a minute.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "detect"))  # the planted tasks live with the tests

from planted import digits_task, top_cluster_recovery  # noqa: E402

import hstrat  # noqa: E402
from hstrat.detect import ClusterDetector, KMeansDetector  # noqa: E402
from hstrat.metrics import stratified_auc  # noqa: E402
from hstrat.plot import plot_cluster_map, plot_forest, plot_image_grid  # noqa: E402

IMG = ROOT / "docs" / "img"
COLUMNS = ["name", "n", "auc", "auc_low", "auc_high", "auc_diff", "p_adjusted", "error_rate",
           "stability"]  # fmt: skip


def _save(fig: object, name: str) -> None:
    fig.savefig(IMG / name, dpi=110)  # type: ignore[attr-defined]
    print(f"wrote docs/img/{name}")


def digits_figures() -> None:
    """Cluster map, exemplar grid and forest plot of the digits task."""
    task = digits_task()
    detector = ClusterDetector(random_state=0)
    report = hstrat.evaluate(
        task.y_true,
        task.y_score,
        {"digit 8 (labelled)": task.subclass},
        embeddings=task.embeddings,
        detectors=[detector],
        random_state=0,
        progress=False,
    )
    with pd.option_context("display.width", 120, "display.precision", 3):
        print(report.clusters[COLUMNS].head(6).to_string(index=False))
        print(detector.k_selection_.to_string(index=False))
    precision, recall = top_cluster_recovery(detector.labels_, task.subclass)
    print(f"top cluster: precision {precision:.2f}, recall {recall:.2f} for digit 8")
    print(f"stability (ARI): {detector.class_stability_}")
    composition = pd.crosstab(
        pd.Series(detector.labels_, name="cluster"), pd.Series(task.groups, name="digit")
    )
    print(composition.head(6).to_string())

    fig = plot_cluster_map(detector, task.embeddings, top=4, title="Digits: k-means clusters")
    _save(fig, "detect-cluster-map.png")

    exemplars = detector.exemplars(k=10)
    rows = {}
    for name in detector.clusters_["name"].head(3):
        own = exemplars[exemplars["name"] == name]
        rows[f"{name}\ncentral"] = own.loc[own["kind"] == "central", "position"].to_numpy()
        if name == detector.clusters_["name"].iloc[0]:
            rows[f"{name}\nerrors"] = own.loc[own["kind"] == "error", "position"].to_numpy()
    fig = plot_image_grid(
        task.images,
        rows,
        marked=detector.errors_,
        title="Cases nearest each cluster's centre (red frame: error at the operating point)",
    )
    _save(fig, "detect-exemplars.png")

    fig = plot_forest(report.table, title="Digits: a labelled stratum and the discovered clusters")
    _save(fig, "detect-forest.png")


def _null_task(seed: int, n: int = 800) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) < n // 2
    centers = rng.normal(0, 2.0, (6, 6))
    mode = rng.integers(0, 3, n) + 3 * y
    return centers[mode] + rng.normal(size=(n, 6)), y, rng.normal(size=n) + y


def null_figure(n_replicates: int = 100) -> None:
    """Top-cluster p-values on tasks with no real subclass: held out vs exploratory."""
    from hstrat.plot._matplotlib import pyplot

    p_values: dict[str, list[float]] = {"held out (holdout=0.5)": [], "exploratory": []}
    for seed in range(n_replicates):
        embeddings, y, scores = _null_task(seed)
        for label, holdout in (("held out (holdout=0.5)", 0.5), ("exploratory", None)):
            detector = KMeansDetector(
                n_clusters=(2, 3, 4),
                holdout=holdout,
                min_cluster_size=30,
                n_init=1,
                n_stability=0,
                random_state=seed,
            )
            detector.fit(embeddings, y_true=y, y_score=scores)
            table = stratified_auc(y, scores, detector.to_strata(top=1), n_resamples=200,
                                   random_state=seed)  # fmt: skip
            p_values[label].append(float(table["p_value"].iloc[1]))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
    grid = np.linspace(0, 1, 101)
    ax.plot(grid, grid, color="0.5", ls="--", lw=1, label="uniform (calibrated)")
    for (label, values), colour in zip(p_values.items(), ("tab:blue", "tab:red"), strict=True):
        ordered = np.sort(values)
        ax.step(ordered, np.arange(1, len(ordered) + 1) / len(ordered), where="post",
                color=colour, label=label)  # fmt: skip
        print(f"{label}: P(p < 0.05) = {np.mean(np.asarray(values) < 0.05):.3f}")
    ax.set_xlabel("p-value of the top-ranked cluster")
    ax.set_ylabel("fraction of simulations")
    ax.set_title(f"No real subclass ({n_replicates} simulations)")
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, "detect-null.png")


def main() -> None:
    """Write every figure of the guide."""
    IMG.mkdir(parents=True, exist_ok=True)
    digits_figures()
    null_figure()


if __name__ == "__main__":
    main()
