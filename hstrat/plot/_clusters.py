"""Review figures of a detector: a 2-D map of its clusters, and image grids of exemplars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .._validation import check_int, check_random_state, describe
from ._matplotlib import literal, pyplot


def _map_coordinates(
    data: npt.NDArray[Any], rows: npt.NDArray[np.intp], rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """First two principal components of ``data[rows]`` (fitted on at most 20,000 rows)."""
    from sklearn.decomposition import PCA

    sub = data[rows].astype(np.float64, copy=False)
    if sub.shape[1] == 1:
        return np.stack([sub[:, 0], np.zeros(len(sub))], axis=1)
    fit_rows = rng.choice(len(sub), min(len(sub), 20_000), replace=False)
    pca = PCA(2, random_state=int(rng.integers(2**31 - 1))).fit(sub[fit_rows])
    return np.asarray(pca.transform(sub), dtype=np.float64)


def plot_cluster_map(
    detector: Any,
    embeddings: npt.ArrayLike,
    *,
    top: int = 5,
    max_points: int = 5_000,
    axes: Sequence[Any] | None = None,
    random_state: int | np.random.Generator | None = 0,
    title: str | None = None,
) -> Any:
    """Draw each class's held-out embeddings in 2-D, coloured by cluster, errors marked.

    One panel per class: the first two principal components of the held-out cases (so a
    legend's ``n`` is the audit table's); the ``top`` worst clusters coloured, with their
    size (and held-out AUC from a report), the others grey; errors as black crosses.

    Parameters
    ----------
    detector : fitted detector
        E.g. a fitted :class:`~hstrat.detect.KMeansDetector`.
    embeddings : array-like of shape (n_samples, n_features)
        The embeddings the detector was fitted on.
    top : int, default 5
        How many of the worst clusters to colour.
    max_points : int, default 5000
        At most this many cases drawn per class (a random sample).
    axes : sequence of matplotlib Axes, optional
        One per class; a new figure is made when omitted.
    random_state : int, numpy.random.Generator or None, default 0
        Seed of the sample of points and of the PCA.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.detect import KMeansDetector
    >>> from hstrat.plot import plot_cluster_map
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(300) < 0.5
    >>> E = rng.normal(size=(300, 5)) + 3 * y[:, None]
    >>> s = rng.normal(size=300) + y
    >>> det = KMeansDetector(n_stability=0, random_state=0)
    >>> fig = plot_cluster_map(det.fit(E, y_true=y, y_score=s), E)
    >>> len(fig.axes)
    2
    """
    table = getattr(detector, "clusters_", None)
    labels = getattr(detector, "labels_", None)
    if table is None or labels is None:
        raise ValueError(
            f"detector must be a fitted detector (with labels_ and clusters_); got "
            f"{describe(detector)}. Call detector.fit(...) first."
        )
    data = np.asarray(embeddings)
    if data.ndim != 2 or data.shape[0] != len(labels):
        raise ValueError(
            f"embeddings must have shape (n_samples={len(labels)}, n_features), the data the "
            f"detector was fitted on; got {data.shape}."
        )
    top = check_int(top, "top", minimum=0)
    strata = detector.to_strata()
    held_out = strata[0].labelled if strata else np.ones(len(labels), dtype=bool)
    # a report's clusters carry their held-out AUC; a detector alone does not
    auc = dict(zip(table["name"], table["auc"], strict=True)) if "auc" in table else {}
    panels = [
        (cls, np.isin(labels, table.loc[table["class"] == cls, "cluster"]) & held_out)
        for cls in ("negatives", "positives", "all")
        if cls in set(table["class"])
    ]
    clusters = [(s.name, s.mask, float(auc.get(s.name, np.nan))) for s in strata[:top]]
    errors = getattr(detector, "errors_", None)
    return draw_cluster_map(data, panels, clusters, errors, max_points, axes, random_state, title)


def draw_cluster_map(
    data: npt.NDArray[Any],
    panels: Sequence[tuple[str, npt.NDArray[np.bool_]]],
    clusters: Sequence[tuple[str, npt.NDArray[np.bool_], float]],
    errors: npt.NDArray[np.bool_] | None,
    max_points: int = 5_000,
    axes: Sequence[Any] | None = None,
    random_state: int | np.random.Generator | None = 0,
    title: str | None = None,
) -> Any:
    """Draw each panel's (name, mask) cases in 2-D, the clusters (name, mask, AUC) coloured.

    The drawing behind :func:`plot_cluster_map` and the report's cluster maps.
    """
    max_points = check_int(max_points, "max_points", minimum=1)
    rng = check_random_state(random_state)
    plt = pyplot()
    if axes is None:
        size = (5.2 * len(panels), 4.6)
        _, grid = plt.subplots(1, len(panels), figsize=size, layout="constrained", squeeze=False)
        axes = list(grid[0])
    elif len(axes) != len(panels):
        raise ValueError(f"axes must hold one Axes per class ({len(panels)}); got {len(axes)}.")
    palette = plt.get_cmap("tab10")
    for ax, (panel, in_panel) in zip(axes, panels, strict=True):
        rows = np.flatnonzero(in_panel)
        n_cases = len(rows)
        if n_cases > max_points:
            rows = np.sort(rng.choice(rows, max_points, replace=False))
        xy = _map_coordinates(data, rows, rng)
        coloured = np.zeros(len(rows), dtype=bool)
        drawn = []
        for i, (name, mask, auc) in enumerate(clusters):
            if mask[rows].any():
                auc_text = f", AUC {auc:.2f}" if np.isfinite(auc) else ""
                label = literal(f"{name}: n={int(mask.sum())}{auc_text}")
                drawn.append((mask[rows], palette(i % 10), label))
                coloured |= mask[rows]
        ax.scatter(*xy[~coloured].T, s=6, c="0.82", lw=0, label="other clusters")
        for members, colour, label in drawn:
            ax.scatter(*xy[members].T, s=8, lw=0, color=colour, label=label)
        if errors is not None:
            wrong, label = xy[errors[rows]].T, "error at operating point"
            ax.scatter(*wrong, s=10, marker="x", lw=0.6, c="black", label=label)
        shown = "" if len(rows) == n_cases else f" ({len(rows):,} shown)"
        ax.set_title(literal(f"{panel}: {n_cases:,} held-out cases{shown}"))
        ax.set(xlabel="PC 1", ylabel="PC 2")
        ax.legend(loc="best", fontsize=7, markerscale=1.5, framealpha=0.85)
    if title:
        axes[0].figure.suptitle(literal(title))
    return axes[0].figure


def _as_image(image: Any) -> npt.NDArray[Any]:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels first (torch) → last
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise ValueError(f"each image must be 2-D or 3-D (H, W[, C]); got shape {arr.shape}.")
    return arr


def plot_image_grid(
    images: Any,
    indices: Sequence[int] | npt.ArrayLike | Mapping[str, Sequence[int] | npt.ArrayLike],
    *,
    marked: npt.ArrayLike | None = None,
    ncols: int | None = None,
    cmap: str = "gray",
    image_size: float = 1.2,
    title: str | None = None,
) -> Any:
    """Draw images in a grid — e.g. each cluster's exemplars, one row per cluster.

    Parameters
    ----------
    images : array-like of shape (n, H, W[, C]) or sequence of images
        All the images, indexed by case position (channels-first images are accepted).
    indices : sequence of int, or mapping of row label to sequence of int
        Which images to draw: one grid, or one labelled row per mapping entry
        (e.g. ``{"typical": [...], "errors": [...]}``). A case already drawn in an
        earlier row is left out of later ones; a row left empty says "all shown above".
    marked : array-like of bool, shape (n,), optional
        Cases to frame in red (e.g. ``detector.errors_``).
    ncols : int, optional
        Images per row (default: the longest row, or 8 for a plain sequence).
    cmap : str, default "gray"
        Colour map of single-channel images.
    image_size : float, default 1.2
        Inches per image.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.plot import plot_image_grid
    >>> images = np.random.default_rng(0).random((20, 8, 8))
    >>> fig = plot_image_grid(images, {"pos:c0": [0, 1, 2], "neg:c1": [5, 6]},
    ...                       marked=np.arange(20) % 2 == 0)
    >>> len(fig.axes)
    5
    """
    rows: list[tuple[str, list[int]]] = []
    if isinstance(indices, Mapping):
        seen: set[int] = set()
        for key, value in indices.items():
            row = list(dict.fromkeys(int(i) for i in np.asarray(value).ravel()))
            fresh = [i for i in row if i not in seen]
            note = "" if fresh else (": all shown above" if row else ": none")
            rows.append((f"{key}{note}", fresh))
            seen.update(row)
    else:
        flat = [int(i) for i in np.asarray(indices).ravel()]
        width = 8 if ncols is None else check_int(ncols, "ncols", minimum=1)
        rows = [("", flat[i : i + width]) for i in range(0, len(flat), width)]
    if not any(r for _, r in rows):
        raise ValueError("indices selects no image.")
    n_images = len(images)
    bad = [i for _, row in rows for i in row if not -n_images <= i < n_images]
    if bad:
        raise ValueError(f"indices {bad[:3]!r} are out of range for {n_images} images.")
    mark = None if marked is None else np.asarray(marked, dtype=bool)
    if mark is not None and len(mark) != n_images:
        raise ValueError(f"marked must have one entry per image ({n_images}); got {len(mark)}.")
    ncols = check_int(max(len(r) for _, r in rows) if ncols is None else ncols, "ncols", minimum=1)
    labelled = any(label for label, _ in rows)
    fig = pyplot().figure(
        figsize=(image_size * ncols + (1.2 if labelled else 0.2), image_size * len(rows) + 0.4),
        layout="constrained",
    )
    grid = fig.add_gridspec(len(rows), ncols)
    for r, (label, row) in enumerate(rows):
        if not row:
            ax = fig.add_subplot(grid[r, :])
            ax.set_axis_off()
            ax.text(0.02, 0.5, literal(label), va="center", fontsize=9)
        for c, index in enumerate(row[:ncols]):
            ax = fig.add_subplot(grid[r, c], xticks=[], yticks=[])
            image = _as_image(images[index])
            ax.imshow(image, cmap=cmap if image.ndim == 2 else None, interpolation="nearest")
            if mark is not None and mark[index]:
                for spine in ax.spines.values():
                    spine.set(edgecolor="tab:red", linewidth=2.5)
            if c == 0 and label:
                ax.set_ylabel(literal(label), rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(literal(title))
    return fig
