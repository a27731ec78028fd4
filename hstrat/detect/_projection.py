"""Per-class PCA of the embeddings, fitted on a bounded sample and applied in chunks.

Penultimate-layer features are wide (1,024 for DenseNet-121) and strongly correlated;
clustering a few dozen principal components is faster and, for k-means and Gaussian
mixtures, usually better conditioned. Memory stays at one chunk of the original width.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.decomposition import PCA

__all__ = ["PCA_MAX_SAMPLES", "fit_projection", "project"]

#: The PCA of a class is fitted on at most this many of its discovery cases.
PCA_MAX_SAMPLES = 20_000
#: Rows projected at a time.
CHUNK_ROWS = 8_192

IntArray = npt.NDArray[np.intp]


def fit_projection(
    data: npt.NDArray[np.floating[Any]],
    rows: IntArray,
    n_components: int | None,
    *,
    whiten: bool,
    rng: np.random.Generator,
) -> PCA | None:
    """Fit a PCA on ``data[rows]``; None (the identity) if it would change nothing."""
    n_features = data.shape[1]
    if n_components is None or len(rows) < 2:
        return None
    dims = min(n_components, n_features, len(rows))
    if dims >= n_features and not whiten:
        return None
    if len(rows) > PCA_MAX_SAMPLES:
        rows = np.sort(rng.choice(rows, PCA_MAX_SAMPLES, replace=False))
    # The covariance route is exact and fast when rows outnumber features of moderate
    # width (1,024-wide embeddings); randomized SVD, slow on flat spectra, is kept for
    # very wide features.
    if len(rows) >= n_features and n_features <= 2_048:
        solver = "covariance_eigh"
    elif dims < 0.8 * min(len(rows), n_features):
        solver = "randomized"
    else:
        solver = "full"
    seed = int(rng.integers(2**31 - 1))
    return PCA(dims, whiten=whiten, svd_solver=solver, random_state=seed).fit(data[rows])


def project(
    data: npt.NDArray[np.floating[Any]], rows: IntArray, pca: PCA | None
) -> npt.NDArray[np.floating[Any]]:
    """Return ``data[rows]`` in the PCA's coordinates (a copy), a chunk at a time."""
    if pca is None:
        return np.array(data[rows])
    out = np.empty((len(rows), pca.n_components_), dtype=data.dtype)
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        out[start : start + len(chunk)] = pca.transform(data[chunk])
    return out
