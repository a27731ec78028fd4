"""audit(..., detectors=[...]): clusters of a torch model's penultimate features."""

from __future__ import annotations

import numpy as np
import pytest

import hstrat
from hstrat.detect import KMeansDetector

torch = pytest.importorskip("torch")


def _model_and_loader(task):
    """A network whose penultimate layer carries the planted embeddings and whose logit
    is the planted score, so the audit must find the planted subclass."""
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    x = np.c_[task.embeddings, task.y_score].astype(np.float32)
    width = x.shape[1]
    shift = float(-x.min()) + 1.0  # keeps the ReLU the identity on these inputs
    hidden = nn.Linear(width, width)
    head = nn.Linear(width, 1)
    with torch.no_grad():
        hidden.weight.copy_(torch.eye(width))
        hidden.bias.fill_(shift)
        head.weight.zero_()
        head.weight[0, -1] = 1.0
        head.bias.fill_(-shift)
    model = nn.Sequential(hidden, nn.ReLU(), head)
    data = TensorDataset(torch.from_numpy(x), torch.from_numpy(task.y_true.astype(np.float32)))
    return model, DataLoader(data, batch_size=256)


def test_audit_adds_the_clusters_as_rows(planted):
    model, loader = _model_and_loader(planted)
    detector = KMeansDetector(n_stability=0, random_state=0)
    report = hstrat.audit(
        model, loader, detectors=[detector], n_resamples=200, random_state=0, progress=False
    )
    rows = report.table[report.table["family"] == "kmeans"]
    assert len(rows) == int(detector.clusters_["eligible"].sum())
    assert rows["stratum"].iloc[0] == "kmeans:pos:c0"
    # no permutation of the 200 is as extreme: the smallest p-value there is
    assert rows.iloc[0]["p_value"] == pytest.approx(1 / 201)
    assert detector.n_features_in_ == planted.embeddings.shape[1] + 1
    top = detector.labels_ == 0
    assert planted.subclass[top].mean() > 0.95
    assert top[planted.subclass].mean() > 0.95
    assert report.clusters is not None
    assert len(report.clusters) == len(detector.clusters_)
