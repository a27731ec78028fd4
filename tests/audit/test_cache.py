import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import hstrat
from hstrat._audit import _cache

N, D, BATCH = 60, 5, 8  # 8 batches, the last one of 4


class Counting(nn.Module):
    """A small model that counts its forward calls and can fail at a given call."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(D, 6), nn.ReLU())
        self.classifier = nn.Linear(6, 1)
        self.calls = 0
        self.fail_at = None
        self.error = RuntimeError

    def forward(self, x):
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.error("interrupted")
        return self.classifier(self.body(x))


class Cases(Dataset):
    def __init__(self, n=N, seed=0, flip=()):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, D, generator=g)
        self.y = (torch.arange(n) % 3 == 0).float()
        for i in flip:
            self.y[i] = 1 - self.y[i]
        self.site = ["north" if i % 2 else "south" for i in range(n)]

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {
            "image": self.x[i],
            "label": self.y[i],
            "id": f"case{i:03d}",
            "site": self.site[i],
            "weight": torch.tensor(0.5 * i, dtype=torch.float32),
        }


def loader(dataset=None, **kwargs):
    return DataLoader(dataset or Cases(), batch_size=BATCH, **kwargs)


def assert_same(a, b):
    np.testing.assert_array_equal(a.y_score, b.y_score)
    np.testing.assert_array_equal(a.y_true, b.y_true)
    np.testing.assert_array_equal(np.asarray(a.embeddings), np.asarray(b.embeddings))
    pd.testing.assert_index_equal(a.ids, b.ids)
    pd.testing.assert_frame_equal(a.metadata, b.metadata)


@pytest.fixture
def flush_every_batch(monkeypatch):
    monkeypatch.setattr(_cache, "FLUSH_BYTES", 0)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_resume_after_an_interruption_skips_finished_batches(tmp_path, error):
    reference = hstrat.collect(Counting(), loader(), progress=False)
    model = Counting()
    model.fail_at, model.error = 4, error
    with pytest.raises(error, match="interrupted"):
        hstrat.collect(model, loader(), cache=tmp_path, progress=False)
    manifest = json.loads((tmp_path / _cache.MANIFEST).read_text())
    assert manifest["batch_sizes"] == [BATCH] * 3
    assert not manifest["complete"]
    model.fail_at, model.calls = None, 0
    resumed = hstrat.collect(model, loader(), cache=tmp_path, progress=False)
    assert model.calls == 5  # batches 3..7 only
    assert_same(resumed, reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "embeddings.npy",
        _cache.MANIFEST,
        "index.json",
        "labels.npy",
        "scores.npy",
    ]


def test_complete_cache_loads_without_running_the_model(tmp_path):
    model = Counting()
    first = hstrat.collect(model, loader(), cache=tmp_path, progress=False)
    assert model.calls == 8
    again = hstrat.collect(model, loader(), cache=tmp_path, progress=False)
    assert model.calls == 8
    assert isinstance(again.embeddings, np.memmap)
    assert again.embeddings.dtype == np.float32
    assert not again.embeddings.flags.writeable
    assert_same(again, first)


def test_many_chunks_are_gathered_into_one_file(tmp_path, flush_every_batch):
    reference = hstrat.collect(Counting(), loader(), progress=False)
    model = Counting()
    model.fail_at = 6
    with pytest.raises(RuntimeError):
        hstrat.collect(model, loader(), cache=tmp_path, progress=False)
    assert len(list(tmp_path.glob("chunk-*.npz"))) == 5
    model.fail_at, model.calls = None, 0
    assert_same(hstrat.collect(model, loader(), cache=tmp_path, progress=False), reference)
    assert model.calls == 3
    assert not list(tmp_path.glob("chunk-*"))


def test_cache_of_a_different_model_is_refused(tmp_path):
    hstrat.collect(Counting(seed=0), loader(), cache=tmp_path, progress=False)
    with pytest.raises(ValueError, match="different model: its weights or state differ"):
        hstrat.collect(Counting(seed=1), loader(), cache=tmp_path, progress=False)
    tweaked = Counting(seed=0)
    with torch.no_grad():
        tweaked.classifier.bias += 1e-6
    with pytest.raises(ValueError, match="different model"):
        hstrat.collect(tweaked, loader(), cache=tmp_path, progress=False)
    with pytest.raises(ValueError, match="different kind of model"):
        hstrat.collect(lambda x: x[:, 0], loader(), cache=tmp_path, progress=False)


def test_cache_of_a_different_data_set_is_refused(tmp_path):
    model = Counting()
    hstrat.collect(model, loader(), cache=tmp_path, progress=False)
    with pytest.raises(ValueError, match="different data set: the loader's first batch"):
        hstrat.collect(model, loader(Cases(seed=1)), cache=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"different data set or loader.*len was 8, now 7"):
        hstrat.collect(model, loader(Cases(n=56)), cache=tmp_path, progress=False)
    with pytest.raises(ValueError, match="batch_size was 8, now 10"):
        hstrat.collect(model, DataLoader(Cases(), batch_size=10), cache=tmp_path, progress=False)
    assert model.calls == 8


def test_resuming_with_changed_data_is_refused(tmp_path):
    model = Counting()
    model.fail_at = 5
    with pytest.raises(RuntimeError):
        hstrat.collect(model, loader(), cache=tmp_path, progress=False)
    model.fail_at = None
    with pytest.raises(ValueError, match="batch 2 differs"):
        hstrat.collect(model, loader(Cases(flip=[20])), cache=tmp_path, progress=False)


def test_cache_with_other_options_is_refused(tmp_path):
    model = Counting()
    hstrat.collect(model, loader(), cache=tmp_path, progress=False)
    with pytest.raises(
        ValueError, match=r"other options.*embedding was 'input of classifier', now None"
    ):
        hstrat.collect(model, loader(), cache=tmp_path, embedding_layer=False, progress=False)
    with pytest.raises(ValueError, match="activation was 'auto', now 'none'"):
        hstrat.collect(model, loader(), cache=tmp_path, activation="none", progress=False)


def test_a_cache_with_nothing_saved_is_started_afresh(tmp_path):
    model = Counting()
    model.fail_at = 1
    with pytest.raises(RuntimeError):
        hstrat.collect(model, loader(), cache=tmp_path, progress=False)
    p = hstrat.collect(Counting(seed=1), loader(), cache=tmp_path, target=0, progress=False)
    assert len(p) == N


def test_cache_directory_checks(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"not empty and has no hstrat-cache\.json"):
        hstrat.collect(Counting(), loader(), cache=tmp_path, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="is a file"):
        hstrat.collect(Counting(), loader(), cache=tmp_path / "notes.txt", progress=False)
    with pytest.raises(ValueError, match="fixed order"):
        hstrat.collect(Counting(), loader(shuffle=True), cache=tmp_path / "new", progress=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / _cache.MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match="unreadable"):
        hstrat.collect(Counting(), loader(), cache=tmp_path / "bad", progress=False)


def test_cache_for_sklearn_and_numpy_batches(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    batches = [(X[i : i + 10], y[i : i + 10], np.arange(i, i + 10)) for i in range(0, 40, 10)]
    clf = LogisticRegression().fit(X, y)
    first = hstrat.collect(clf, batches, cache=tmp_path, progress=False)
    again = hstrat.collect(clf, batches, cache=tmp_path, progress=False)
    np.testing.assert_array_equal(first.y_score, again.y_score)
    pd.testing.assert_index_equal(first.ids, again.ids)
    refit = LogisticRegression(C=0.01).fit(X, y)
    with pytest.raises(ValueError, match="different model"):
        hstrat.collect(refit, batches, cache=tmp_path, progress=False)
