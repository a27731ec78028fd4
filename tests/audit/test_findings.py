"""Several findings of one model, audited in one pass: each report equals its own audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hstrat
from hstrat.detect import KMeansDetector

N = 360
NAMES = ["Pneumothorax", "Effusion", "Nodule"]


def make_problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(N, 3, generator=g) < torch.tensor([0.35, 0.3, 0.25])).float()
    drain = (y[:, 0] == 1) & (torch.rand(N, generator=g) < 0.6)
    x = torch.randn(N, 6, generator=g)
    x[:, :3] += 1.2 * y
    x[:, 0] += 1.5 * drain.float()
    return x, y, drain.numpy()


class Model(nn.Module):
    class_names = NAMES

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.body = nn.Sequential(nn.Linear(6, 8), nn.ReLU())
        self.fc = nn.Linear(8, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            self.body[0].weight[:3, :3] += 2 * torch.eye(3)
            self.fc.weight[:, :3] += 2 * torch.eye(3)

    def forward(self, x):
        return self.fc(self.body(x))


def loader(x, y, shuffle=False):
    return DataLoader(TensorDataset(x, y, torch.arange(N)), batch_size=64, shuffle=shuffle)


OPTIONS = {"n_resamples": 200, "random_state": 3, "progress": False}


def test_each_finding_equals_its_single_target_audit():
    x, y, _drain = make_problem()
    model = Model()
    site = pd.Series(np.where(np.arange(N) % 3 == 0, "a", "b"), name="site")
    reports = hstrat.audit(model, loader(x, y), site, targets="all", **OPTIONS)
    assert list(reports) == NAMES
    for name in NAMES:
        single = hstrat.audit(model, loader(x, y), site, target=name, **OPTIONS)
        pd.testing.assert_frame_equal(reports[name].table, single.table)
        assert reports[name].predictions.target == name
    # one pass: the findings share one array of embeddings
    assert reports["Effusion"].predictions.embeddings is reports["Nodule"].predictions.embeddings
    summary = reports.summary.set_index("finding")
    for name in NAMES:
        table = reports[name].table
        assert summary.loc[name, "auc"] == table.loc[0, "auc"]
        worst = table.iloc[1:].sort_values("auc").iloc[0]
        assert summary.loc[name, "worst_stratum"] == worst["stratum"]
        assert summary.loc[name, "worst_p_adjusted"] == worst["p_adjusted"]


@pytest.mark.filterwarnings("ignore::hstrat.exceptions.SmallStratumWarning")
def test_detectors_are_fitted_per_finding_like_single_audits():
    x, y, _ = make_problem()
    model = Model()
    detector = KMeansDetector(random_state=0)
    reports = hstrat.audit(
        model, loader(x, y), targets=[0, "Nodule"], detectors=[detector], **OPTIONS
    )
    assert list(reports) == ["Pneumothorax", "Nodule"]
    single = hstrat.audit(model, loader(x, y), target="Nodule", detectors=[detector], **OPTIONS)
    pd.testing.assert_frame_equal(reports["Nodule"].table, single.table)


def test_schema_strata_go_to_their_finding_only():
    x, y, drain = make_problem()
    model = Model()
    schema = hstrat.Schema.from_dict(
        {
            "target": "Pneumothorax",
            "variables": {"chest_drain": {"values": ["yes", "no"], "applies_to": "positives"}},
        }
    )
    positive = y[:, 0].numpy() == 1
    labels = pd.DataFrame({"chest_drain": np.where(positive, np.where(drain, "yes", "no"), None)})
    strata = schema.to_strata(labels, y_true=y[:, 0].numpy())
    reports = hstrat.audit(
        model, loader(x, y), strata, targets="all", ci="delong", random_state=0, progress=False
    )
    assert reports["Pneumothorax"].table["stratum"].tolist()[1:] == [
        "chest_drain=yes",
        "chest_drain=no",
    ]
    assert reports["Effusion"].table["stratum"].tolist() == ["overall"]
    # an audit of one other finding refuses them rather than misapply them
    with pytest.raises(ValueError, match="subclass of 'Pneumothorax'"):
        hstrat.audit(model, loader(x, y), strata, target="Effusion", progress=False)


def test_a_dict_by_finding_gives_each_its_own_strata():
    x, y, drain = make_problem()
    model = Model()
    by_finding = {
        "Pneumothorax": {"drain": drain},
        "Nodule": {"first half": np.arange(N) < N // 2},
    }
    reports = hstrat.audit(
        model, loader(x, y), by_finding, targets="all", ci="delong", random_state=0, progress=False
    )
    assert reports["Pneumothorax"].table["stratum"].tolist() == ["overall", "drain"]
    assert reports["Effusion"].table["stratum"].tolist() == ["overall"]
    assert reports["Nodule"].table["stratum"].tolist() == ["overall", "first half"]


def test_evaluate_on_dataframes_of_findings_matches_one_column_at_a_time():
    rng = np.random.default_rng(1)
    idx = pd.Index([f"img{i}" for i in range(500)])
    y = pd.DataFrame(rng.random((500, 3)) < 0.4, columns=["a", "b", "c"], index=idx)
    s = (y + rng.normal(size=(500, 3))).sample(frac=1, random_state=2)[["c", "a", "b"]]
    site = pd.Series(rng.choice(["x", "y"], 500), index=idx, name="site")
    reports = hstrat.evaluate(y, s, site, ci="delong", random_state=0, progress=False)
    assert list(reports) == ["a", "b", "c"]
    for name in "abc":
        single = hstrat.evaluate(
            y[name], s[name], site, ci="delong", random_state=0, progress=False
        )
        pd.testing.assert_frame_equal(reports[name].table, single.table)
    with pytest.raises(ValueError, match="same finding columns"):
        hstrat.evaluate(y, s[["a", "b"]], progress=False)
    with pytest.raises(ValueError, match="DataFrames whose columns name the findings"):
        hstrat.evaluate(y.to_numpy(), s.to_numpy(), progress=False)


def test_collect_targets_validation():
    x, y, _ = make_problem()
    model = Model()
    with pytest.raises(TypeError, match="not both"):
        hstrat.collect(model, loader(x, y), target=0, targets=[1], progress=False)
    with pytest.raises(ValueError, match="distinct outputs"):
        hstrat.collect(model, loader(x, y), targets=[1, 1], progress=False)
    with pytest.raises(ValueError, match="Did you mean 'Nodule'"):
        hstrat.collect(model, loader(x, y), targets=["Nodul"], progress=False)
    one_column = DataLoader(TensorDataset(x, y[:, 0]), batch_size=64)
    with pytest.raises(ValueError, match="one label column per output"):
        hstrat.collect(model, one_column, targets="all", progress=False)


def test_save_writes_a_folder_per_finding_and_an_index(tmp_path):
    x, y, _drain = make_problem()
    reports = hstrat.audit(
        Model(), loader(x, y), targets="all", ci="delong", random_state=0, progress=False
    )
    written = reports.save(tmp_path / "out")
    index = (tmp_path / "out" / "index.html").read_text()
    for name, folder in reports.folders().items():
        assert (tmp_path / "out" / folder / "report.html").is_file()
        assert f'href="{folder}/report.html"' in index
        assert name in index
    assert written["index"] == tmp_path / "out" / "index.html"
