import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hstrat
from hstrat import Stratum

N = 240


def make_problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(N, generator=g) < 0.35).float()
    drain = (y == 1) & (torch.rand(N, generator=g) < 0.6)
    x = torch.randn(N, 4, generator=g)
    x[:, 0] += 1.2 * y + 1.5 * drain.float()
    return x, y, drain.numpy()


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.fc = nn.Linear(8, 1)
        with torch.no_grad():
            self.body[0].weight[0].fill_(0.0)
            self.body[0].weight[:, 0] = 1.0
            self.body[0].bias.fill_(1.0)
            self.fc.weight.fill_(0.5)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.fc(self.body(x))


def loader(x, y, *extra, **kwargs):
    return DataLoader(TensorDataset(x, y, *extra), batch_size=32, **kwargs)


@pytest.mark.parametrize(
    "options",
    [
        {"ci": "bootstrap", "n_resamples": 200, "random_state": 7},
        {"ci": "delong", "threshold": {"sensitivity": 0.9}, "correction": "fdr_bh"},
    ],
)
def test_audit_table_equals_evaluate_on_the_same_scores(options):
    x, y, drain = make_problem()
    model = Model()
    strata = {"drain": drain, "no drain": (y.numpy() == 1) & ~drain}
    report = hstrat.audit(model, loader(x, y), strata, progress=False, **options)
    p = report.predictions
    with torch.no_grad():
        manual = torch.sigmoid(model(x)[:, 0].double()).numpy()
    np.testing.assert_allclose(p.y_score, manual, rtol=1e-6)
    expected = hstrat.evaluate(y.numpy(), p.y_score, strata, progress=False, **options)
    pd.testing.assert_frame_equal(report.table, expected.table)
    assert report.predictions.embeddings.shape == (N, 8)


def test_shuffled_loader_positional_strata_refused_id_strata_joined():
    x, y, drain = make_problem()
    ids = torch.arange(N)
    model = Model()
    shuffled = loader(x, y, ids, shuffle=True)
    with pytest.raises(ValueError, match="by position, but the loader's order is random"):
        hstrat.audit(model, shuffled, {"drain": drain}, ci="delong", progress=False)
    labels = pd.Series(
        np.where(drain, "drain", np.where(y.numpy() == 1, "none", None)),
        index=pd.Index(np.arange(N) + 1000, name="id"),
        name="tube",
    ).dropna()
    shuffled_ids = loader(x, y, ids + 1000, shuffle=True)
    report = hstrat.audit(model, shuffled_ids, labels, ci="delong", progress=False)
    assert report.predictions.shuffled
    in_order = hstrat.audit(model, loader(x, y, ids + 1000), labels, ci="delong", progress=False)
    assert not in_order.predictions.shuffled
    cols = ["stratum", "n", "n_pos", "n_neg", "auc", "auc_low", "auc_high", "p_value", "threshold"]
    pd.testing.assert_frame_equal(report.table[cols], in_order.table[cols], rtol=1e-9)


def test_options_are_checked_before_the_pass():
    x, y, _drain = make_problem()
    model = Model()
    with pytest.raises(
        TypeError, match=r"unexpected keyword argument 'n_resample'.*Did you mean 'n_resamples'"
    ):
        hstrat.audit(model, loader(x, y), n_resample=10, progress=False)
    with pytest.raises(ValueError, match="ci must be one of"):
        hstrat.audit(model, loader(x, y), ci="delnog", progress=False)
    with pytest.raises(ValueError, match="confidence_level"):
        hstrat.audit(model, loader(x, y), confidence_level=95, progress=False)
    with pytest.raises(ValueError, match="detectors need embeddings"):
        hstrat.audit(
            model, loader(x, y), detectors=[object()], embedding_layer=False, progress=False
        )
    assert model.calls == 0


def test_collect_options_pass_through_audit():
    x, y, _ = make_problem()
    batches = [
        {"pixels": x[i : i + 60], "label": y[i : i + 60], "site": (np.arange(i, i + 60) % 2)}
        for i in range(0, N, 60)
    ]
    report = hstrat.audit(
        Model(),
        batches,
        lambda meta: {"odd": meta["site"].to_numpy() == 1},
        input_key="pixels",
        ci="delong",
        progress=False,
    )
    assert report.table["stratum"].tolist() == ["overall", "odd"]


class RecordingDetector:
    """Stands in for a detector: checks it receives the collected embeddings."""

    name = "probe"

    def fit(self, embeddings, *, y_true, y_score, threshold):
        self.embeddings_ = np.asarray(embeddings)
        self.clusters_ = pd.DataFrame({"cluster": [0], "n": [len(y_true)]})
        self.mask_ = np.asarray(embeddings)[:, 0] > np.median(np.asarray(embeddings)[:, 0])
        return self

    def to_strata(self):
        return [Stratum(self.mask_, "all", name="upper")]


def test_detectors_receive_the_penultimate_embeddings():
    x, y, _ = make_problem()
    model = Model()
    detector = RecordingDetector()
    report = hstrat.audit(model, loader(x, y), detectors=[detector], ci="delong", progress=False)
    with torch.no_grad():
        hidden = model.body(x).numpy()
    np.testing.assert_allclose(detector.embeddings_, hidden, rtol=1e-6)
    assert report.table["stratum"].tolist() == ["overall", "probe:upper"]


def test_audit_with_a_cache_reuses_the_pass(tmp_path):
    x, y, drain = make_problem()
    model = Model()
    first = hstrat.audit(
        model, loader(x, y), {"drain": drain}, ci="delong", cache=tmp_path, progress=False
    )
    model.calls = 0  # module attributes are fingerprinted: as when the cache was written
    again = hstrat.audit(
        model, loader(x, y), {"drain": drain}, ci="delong", cache=tmp_path, progress=False
    )
    assert model.calls == 0
    cols = [c for c in first.table.columns if c != "note"]
    pd.testing.assert_frame_equal(first.table[cols], again.table[cols])
