"""Baselines of the discovery benchmark: three published ways to find a failing cluster.

Each takes a task's embeddings, labels and scores and returns a cluster id per case,
**ranked**: cluster 0 is the one the method points the user at, 1 the next, ... (-1 for
none). None of them splits the cases: each finds and ranks its clusters on every case,
which only helps it in this benchmark (the detectors rank on half the cases).

* :func:`naive_worst_error` — k-means with 4 clusters inside each class, clusters
  ranked by error rate at the operating point: the paper's clustering (Oakden-Rayner et
  al. 2020, "Hidden stratification causes clinically meaningful failures in machine
  learning for medical imaging", CHIL) with its high-error cluster on top.
* :func:`george_style` — GEORGE (Sohoni, Dunnmon, Angus, Gu & Ré 2020, "No subclass
  left behind: fine-grained robustness in coarse-grained classification problems",
  NeurIPS): each class's embeddings reduced (UMAP to 2 dimensions when ``umap-learn`` is
  installed, else PCA to 10 — GEORGE uses UMAP) and clustered by a Gaussian mixture
  whose number of components (2-10) has the best silhouette; clusters ranked by error
  rate (GEORGE itself does not rank: it trains a robust model on the clusters).
* :func:`domino_style` — Domino (Eyuboglu, Varma, Saab, Delbrouck, Lee-Messer, Dunnmon,
  Zou & Ré 2022, "Domino: discovering systematic errors with cross-modal embeddings",
  ICLR): one mixture over all cases of diagonal Gaussians on the PCA(128) embeddings
  times a categorical over the label and one over the prediction, the last two weighted
  by 10 in the E-step; its 25 components ranked by how far the mean prediction is from
  the mean label (Domino's slice order).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import logsumexp
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from hstrat.metrics import operating_threshold

IntArray = npt.NDArray[np.intp]


def _errors(y: npt.NDArray[np.bool_], s: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    threshold = operating_threshold(y, s)
    return np.where(y, s < threshold, s >= threshold)


def _rank_by(keys: npt.NDArray[np.float64], local: IntArray) -> IntArray:
    """Relabel ``local`` cluster ids so that 0 has the largest key (ties: larger first)."""
    sizes = np.bincount(local, minlength=len(keys))
    order = np.lexsort((-sizes, -keys))
    rank = np.empty(len(keys), dtype=np.intp)
    rank[order] = np.arange(len(keys))
    return rank[local]


def _per_class(
    y: npt.NDArray[np.bool_], errors: npt.NDArray[np.bool_], fit_class: object
) -> IntArray:
    """Cluster each class with ``fit_class(rows) -> local labels``; rank by error rate."""
    global_labels = np.empty(len(y), dtype=np.intp)
    rates: list[float] = []
    sizes: list[int] = []
    offset = 0
    for cls in (False, True):
        rows = np.flatnonzero(y == cls)
        local = np.asarray(fit_class(rows), dtype=np.intp)  # type: ignore[operator]
        k = int(local.max()) + 1
        for j in range(k):
            members = rows[local == j]
            rates.append(float(errors[members].mean()) if len(members) else -1.0)
            sizes.append(len(members))
        global_labels[rows] = local + offset
        offset += k
    return _rank_by(np.array(rates), global_labels)


def naive_worst_error(
    embeddings: npt.NDArray[np.floating], y: npt.NDArray[np.bool_],
    s: npt.NDArray[np.float64], seed: int,
) -> IntArray:  # fmt: skip
    """KMeans(4) inside each class; the cluster with the highest error rate first."""
    errors = _errors(y, s)

    def fit(rows: IntArray) -> IntArray:
        k = min(4, len(rows))
        return KMeans(k, n_init=3, random_state=seed).fit_predict(embeddings[rows])

    return _per_class(y, errors, fit)


def _reduce(data: npt.NDArray[np.floating], seed: int) -> npt.NDArray[np.float64]:
    try:
        import umap  # type: ignore[import-not-found]
    except ImportError:
        dims = min(10, data.shape[1], len(data))
        return np.asarray(PCA(dims, random_state=seed).fit_transform(data))
    return np.asarray(umap.UMAP(n_components=2, random_state=seed).fit_transform(data))


def george_style(
    embeddings: npt.NDArray[np.floating], y: npt.NDArray[np.bool_],
    s: npt.NDArray[np.float64], seed: int,
) -> IntArray:  # fmt: skip
    """Per class: reduce, Gaussian mixture with k in 2..10 by silhouette; rank by error."""
    errors = _errors(y, s)

    def fit(rows: IntArray) -> IntArray:
        z = _reduce(embeddings[rows], seed)
        best, best_labels = -np.inf, np.zeros(len(rows), dtype=np.intp)
        for k in range(2, 11):
            if k >= len(rows):
                break
            labels = GaussianMixture(k, n_init=1, random_state=seed).fit_predict(z)
            if len(np.unique(labels)) < 2:
                continue
            score = silhouette_score(z, labels, sample_size=min(2_000, len(z)), random_state=0)
            if score > best:
                best, best_labels = score, labels
        _, dense = np.unique(best_labels, return_inverse=True)
        return dense

    return _per_class(y, errors, fit)


def domino_style(
    embeddings: npt.NDArray[np.floating], y: npt.NDArray[np.bool_],
    s: npt.NDArray[np.float64], seed: int,
    *, n_components: int = 25, weight: float = 10.0, max_iter: int = 100,
) -> IntArray:  # fmt: skip
    """Error-aware mixture over embeddings, label and prediction (Domino); see module doc."""
    n = len(y)
    dims = min(128, embeddings.shape[1], n)
    z = PCA(dims, random_state=seed).fit_transform(embeddings)
    z = (z - z.mean(axis=0)) / (z.std(axis=0) + 1e-12)
    predicted = s >= operating_threshold(y, s)
    y_onehot = np.c_[~y, y].astype(float)
    p_onehot = np.c_[~predicted, predicted].astype(float)
    k = min(n_components, n)
    # initialised by k-means; EM with diagonal covariances and weighted categoricals
    resp = np.eye(k)[KMeans(k, n_init=1, random_state=seed).fit_predict(z)]
    reg = 1e-3
    for _ in range(max_iter):
        nk = resp.sum(axis=0) + 1e-10
        weights = nk / n
        means = resp.T @ z / nk[:, None]
        var = resp.T @ (z * z) / nk[:, None] - means**2 + reg
        y_probs = (resp.T @ y_onehot + 1e-3) / (nk[:, None] + 2e-3)
        p_probs = (resp.T @ p_onehot + 1e-3) / (nk[:, None] + 2e-3)
        log_gauss = -0.5 * (
            np.sum(np.log(2 * np.pi * var), axis=1)[None, :]
            + ((z[:, None, :] - means[None, :, :]) ** 2 / var[None, :, :]).sum(axis=2)
        )
        log_joint = (
            np.log(weights)[None, :]
            + log_gauss
            + weight * (y_onehot @ np.log(y_probs).T)
            + weight * (p_onehot @ np.log(p_probs).T)
        )
        new_resp = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
        if np.abs(new_resp - resp).max() < 1e-4:
            resp = new_resp
            break
        resp = new_resp
    labels = np.argmax(resp, axis=1).astype(np.intp)
    nk = resp.sum(axis=0) + 1e-10
    mean_y = resp.T @ y.astype(float) / nk
    mean_p = resp.T @ predicted.astype(float) / nk
    present = np.bincount(labels, minlength=k) > 0
    keys = np.where(present, np.abs(mean_p - mean_y), -1.0)
    return _rank_by(keys, labels)
