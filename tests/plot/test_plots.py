"""Review figures: the cluster map and the image grid."""

from __future__ import annotations

import numpy as np
import pytest

from hstrat.detect import KMeansDetector
from hstrat.plot import plot_cluster_map, plot_image_grid


@pytest.fixture(scope="module")
def fitted_digits(digits):
    det = KMeansDetector(n_stability=0, random_state=0)
    return det.fit(digits.embeddings, y_true=digits.y_true, y_score=digits.y_score)


def test_cluster_map_has_a_panel_per_class_and_names_the_top_clusters(fitted_digits, digits):
    fig = plot_cluster_map(fitted_digits, digits.embeddings, top=3, title="digits")
    assert len(fig.axes) == 2
    texts = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    for name in fitted_digits.clusters_["name"].head(3):
        assert any(t.startswith(name) for t in texts)
    assert "error at operating point" in texts
    assert fig.axes[0].get_title().startswith("negatives")


def test_cluster_map_subsamples_and_checks_its_inputs(fitted_digits, digits):
    fig = plot_cluster_map(fitted_digits, digits.embeddings, max_points=50)
    assert "(50 shown)" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="the data the detector was fitted on"):
        plot_cluster_map(fitted_digits, digits.embeddings[:10])
    with pytest.raises(ValueError, match="fitted detector"):
        plot_cluster_map(KMeansDetector(), digits.embeddings)


def test_image_grid_rows_marks_and_errors(fitted_digits, digits):
    ex = fitted_digits.exemplars(k=6)
    rows = {
        name: group.loc[group["kind"] == "central", "position"].to_numpy()
        for name, group in ex.groupby("name", sort=False)
    }
    fig = plot_image_grid(digits.images, rows, marked=fitted_digits.errors_, title="exemplars")
    assert len(fig.axes) == sum(len(v) for v in rows.values())
    first_row_label = fig.axes[0].get_ylabel()
    assert first_row_label == fitted_digits.clusters_["name"].iloc[0]
    framed = [ax for ax in fig.axes if ax.spines["top"].get_edgecolor()[:3] != (0.0, 0.0, 0.0)]
    marked_count = sum(int(fitted_digits.errors_[v].sum()) for v in rows.values())
    assert len(framed) == marked_count
    flat = plot_image_grid(digits.images, np.arange(10), ncols=4)
    assert len(flat.axes) == 10
    chw = plot_image_grid(np.zeros((3, 3, 5, 5)), [0, 1])  # channels-first colour images
    assert len(chw.axes) == 2
    with pytest.raises(ValueError, match="out of range"):
        plot_image_grid(digits.images, [0, 10_000])
    with pytest.raises(ValueError, match="marked must have one entry per image"):
        plot_image_grid(digits.images, [0], marked=[True])
    with pytest.raises(ValueError, match="selects no image"):
        plot_image_grid(digits.images, {})


def test_image_grid_draws_each_case_once():
    images = np.random.default_rng(0).random((10, 6, 6))
    fig = plot_image_grid(images, {"typical": [0, 1, 2, 3], "errors": [2, 3, 4], "again": [0, 1]})
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 5  # 0-3, then only 4
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert notes == ["again: all shown above"]
