import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import hstrat
from hstrat import Predictions

N, D = 50, 6


def make_data(n=N, d=D, seed=0, n_labels=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    if n_labels is None:
        y = (torch.arange(n) % 3 == 0).float()
    else:
        y = (torch.rand(n, n_labels, generator=g) < 0.4).float()
    return x, y


def make_model(d=D, hidden=8, out=1, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, out))


def loader_of(*tensors, batch_size=16, **kwargs):
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, **kwargs)


def test_single_logit_scores_labels_embeddings():
    x, y = make_data()
    model = make_model()
    p = hstrat.collect(model, loader_of(x, y), progress=False)
    assert isinstance(p, Predictions)
    with torch.no_grad():
        logits = model(x).double().squeeze(1)
        hidden = model[:-1](x)
    np.testing.assert_allclose(p.y_score, torch.sigmoid(logits).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(p.y_true, y.numpy() == 1)
    assert p.embeddings.dtype == np.float32
    np.testing.assert_allclose(p.embeddings, hidden.numpy(), rtol=1e-6, atol=1e-7)
    assert isinstance(p.ids, pd.RangeIndex)
    assert p.ids.equals(pd.RangeIndex(N))
    assert p.metadata is None
    assert p.target is None
    assert p.shuffled is False


def test_sigmoid_is_computed_in_float64():
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.zero_()
    x = torch.tensor([[20.0], [25.0], [30.0], [0.0]])
    p = hstrat.collect(model, [(x, torch.tensor([1, 1, 0, 0]))], progress=False)
    assert len(np.unique(p.y_score)) == 4  # float32 sigmoid would give 1.0 three times


def test_two_logits_softmax_class_one():
    x, y = make_data()
    model = make_model(out=2)
    p = hstrat.collect(model, loader_of(x, y), progress=False)
    with torch.no_grad():
        expected = torch.softmax(model(x).double(), dim=1)[:, 1].numpy()
    np.testing.assert_allclose(p.y_score, expected, rtol=1e-6)


def test_two_logits_with_target_must_name_the_activation():
    x, y = make_data()
    model = make_model(out=2)
    with pytest.raises(ValueError, match="activation='softmax' or activation='sigmoid'"):
        hstrat.collect(model, loader_of(x, y), target=1, progress=False)
    p = hstrat.collect(model, loader_of(x, y), target=0, activation="sigmoid", progress=False)
    with torch.no_grad():
        expected = torch.sigmoid(model(x).double()[:, 0]).numpy()
    np.testing.assert_allclose(p.y_score, expected, rtol=1e-6)


def test_softmax_over_many_classes_and_no_activation():
    x, y = make_data()
    model = make_model(out=4)
    p = hstrat.collect(model, loader_of(x, y), target=2, activation="softmax", progress=False)
    with torch.no_grad():
        logits = model(x).double()
    np.testing.assert_allclose(p.y_score, torch.softmax(logits, 1)[:, 2].numpy(), rtol=1e-6)
    raw = hstrat.collect(model, loader_of(x, y), target=3, activation="none", progress=False)
    np.testing.assert_allclose(raw.y_score, logits[:, 3].numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="activation must be one of"):
        hstrat.collect(model, loader_of(x, y), target=3, activation="relu", progress=False)


@pytest.mark.parametrize(
    ("head", "activation"), [(nn.Sigmoid(), "sigmoid"), (nn.Softmax(dim=1), "softmax")]
)
def test_probabilities_are_not_squashed_twice_without_a_warning(head, activation):
    x, y = make_data()
    model = nn.Sequential(make_model(out=1 if activation == "sigmoid" else 2), head)
    with torch.no_grad():
        probabilities = model(x).double()[:, -1].numpy()
    with pytest.warns(UserWarning, match=rf"applied a {activation} .* every one of them lies in"):
        twice = hstrat.collect(model, loader_of(x, y), progress=False)
    assert twice.y_score.min() > 0.25  # what the warning is about
    raw = {"activation": "none", "target": None if activation == "sigmoid" else 1}
    once = hstrat.collect(model, loader_of(x, y), progress=False, **raw)
    np.testing.assert_allclose(once.y_score, probabilities, rtol=1e-6)
    hstrat.collect(model, loader_of(x, y), activation=activation, progress=False)  # no warning


def test_logits_outside_the_unit_interval_give_no_warning():
    x, y = make_data()
    model = make_model()
    with torch.no_grad():
        assert (model(x) < 0).any()
    hstrat.collect(model, loader_of(x, y), progress=False)  # warnings are errors here


@pytest.mark.parametrize("how", ["index", "class_names", "attribute"])
def test_multilabel_target_reduces_outputs_and_multi_hot_labels(how):
    names = [f"finding{i}" for i in range(5)]
    x, y = make_data(n_labels=5)
    model = make_model(out=5)
    kwargs = {"target": 3}
    if how == "class_names":
        kwargs = {"target": "finding3", "class_names": names}
    elif how == "attribute":
        model.class_names = names
        kwargs = {"target": "finding3"}
    p = hstrat.collect(model, loader_of(x, y), progress=False, **kwargs)
    with torch.no_grad():
        expected = torch.sigmoid(model(x).double()[:, 3]).numpy()
    np.testing.assert_allclose(p.y_score, expected, rtol=1e-6)
    np.testing.assert_array_equal(p.y_true, y[:, 3].numpy() == 1)
    assert p.target == kwargs["target"]


def test_multilabel_errors():
    x, y = make_data(n_labels=5)
    model = make_model(out=5)
    with pytest.raises(ValueError, match=r"5 outputs per sample; pass target="):
        hstrat.collect(model, loader_of(x, y), progress=False)
    with pytest.raises(ValueError, match="names of the model's outputs are unknown"):
        hstrat.collect(model, loader_of(x, y), target="finding3", progress=False)
    names = ["Atelectasis", "Cardiomegaly", "Effusion", "Pneumothorax", "Mass"]
    with pytest.raises(ValueError, match="Did you mean 'Pneumothorax'"):
        hstrat.collect(
            model, loader_of(x, y), target="Pneumothrax", class_names=names, progress=False
        )
    with pytest.raises(ValueError, match="class_names has 4 names but the model has 5"):
        hstrat.collect(
            model, loader_of(x, y), target="Mass", class_names=names[:4], progress=False
        )
    with pytest.raises(ValueError, match=r"output index in 0\.\.4; got 7"):
        hstrat.collect(model, loader_of(x, y), target=7, progress=False)
    with pytest.raises(TypeError, match="target must be"):
        hstrat.collect(model, loader_of(x, y), target=1.5, progress=False)
    single = make_model(out=1)
    with pytest.raises(ValueError, match="multi-hot"):
        hstrat.collect(single, loader_of(x, y), progress=False)


def test_numpy_integer_target_is_stored_as_int():
    x, y = make_data(n_labels=3)
    model = make_model(out=3)
    p = hstrat.collect(
        model, loader_of(x, y), target=np.int64(1), activation="none", progress=False
    )
    assert p.target == 1
    assert type(p.target) is int


class DictDataset(Dataset):
    def __init__(self, n=N):
        self.x, self.y = make_data(n)
        self.site = ["north" if i % 2 else "south" for i in range(n)]

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {
            "image": self.x[i],
            "label": self.y[i],
            "id": f"case{i:03d}",
            "site": self.site[i],
            "age": float(40 + i),
        }


def test_dict_batches_keep_ids_and_metadata():
    ds = DictDataset()
    p = hstrat.collect(make_model(), DataLoader(ds, batch_size=16), progress=False)
    assert p.ids.tolist() == [f"case{i:03d}" for i in range(N)]
    assert list(p.metadata.columns) == ["site", "age"]
    assert p.metadata.index.equals(p.ids)
    assert p.metadata["site"].tolist() == ds.site
    np.testing.assert_allclose(p.metadata["age"].to_numpy(), 40.0 + np.arange(N))
    assert p.to_frame().loc["case003", "site"] == "north"


def test_dict_batch_keys_are_configurable_and_checked():
    x, y = make_data()
    batches = [
        {"pixels": x[i : i + 10], "target": y[i : i + 10], "key": torch.arange(i, i + 10)}
        for i in range(0, N, 10)
    ]
    p = hstrat.collect(
        make_model(),
        batches,
        input_key="pixels",
        label_key="target",
        id_key="key",
        progress=False,
    )
    assert p.ids.tolist() == list(range(N))
    assert p.metadata is None
    with pytest.raises(ValueError, match=r"without the key 'image' \(input_key\)"):
        hstrat.collect(make_model(), batches, label_key="target", progress=False)


def test_non_scalar_metadata_is_refused_unless_left_out():
    x, y = make_data()
    batches = [{"image": x[:10], "label": y[:10], "mask": x[:10], "site": ["a"] * 10}]
    with pytest.raises(ValueError, match=r"'mask' must hold one scalar per sample.*metadata_keys"):
        hstrat.collect(make_model(), batches, progress=False)
    p = hstrat.collect(make_model(), batches, metadata_keys=["site"], progress=False)
    assert list(p.metadata.columns) == ["site"]
    with pytest.raises(ValueError, match="metadata_keys names 'age'"):
        hstrat.collect(make_model(), batches, metadata_keys=["age"], progress=False)


def test_three_tuple_batches_with_ids_or_a_dict():
    x, y = make_data()
    ids = torch.arange(100, 100 + N)
    p = hstrat.collect(make_model(), loader_of(x, y, ids), progress=False)
    assert p.ids.tolist() == list(range(100, 100 + N))
    batches = [
        (
            x[i : i + 25],
            y[i : i + 25],
            {"id": [f"s{j}" for j in range(i, i + 25)], "grade": ids[i : i + 25] % 3},
        )
        for i in (0, 25)
    ]
    p = hstrat.collect(make_model(), batches, progress=False)
    assert p.ids[:2].tolist() == ["s0", "s1"]
    assert p.metadata["grade"].tolist() == (ids % 3).tolist()


def test_bad_batches_and_labels():
    x, y = make_data()
    with pytest.raises(TypeError, match=r"must be \(x, y\), \(x, y, ids_or_metadata\) or a dict"):
        hstrat.collect(make_model(), [(x, y, y, y)], progress=False)
    with pytest.raises(TypeError, match="must be"):
        hstrat.collect(make_model(), [x], progress=False)
    bad = y.clone()
    bad[3] = -1
    with pytest.raises(ValueError, match=r"labels of batch 0 must be 0 or 1; got \[-1\.0\]"):
        hstrat.collect(make_model(), [(x, bad)], progress=False)
    with pytest.raises(ValueError, match="4 labels but the model returned 50"):
        hstrat.collect(make_model(), [(x, y[:4])], progress=False)
    with pytest.raises(ValueError, match="yielded no batches"):
        hstrat.collect(make_model(), [], progress=False)
    with pytest.raises(TypeError, match="loader must be an iterable"):
        hstrat.collect(make_model(), 3, progress=False)
    with pytest.raises(ValueError, match="more than once"):
        hstrat.collect(make_model(), [(x[:2], y[:2], [1, 1])], progress=False)


def test_model_none_takes_scores_from_the_loader():
    rng = np.random.default_rng(0)
    s, y = rng.random(40), np.arange(40) % 2
    batches = [
        {"score": s[i : i + 10], "label": y[i : i + 10], "id": np.arange(i, i + 10)}
        for i in range(0, 40, 10)
    ]
    p = hstrat.collect(None, batches, progress=False)
    np.testing.assert_array_equal(p.y_score, s)
    assert p.embeddings is None
    p = hstrat.collect(None, [(s, y)], progress=False)
    np.testing.assert_array_equal(p.y_score, s)
    emb = rng.normal(size=(40, 3))
    with_emb = [{"score": s, "label": y, "feat": emb}]
    p = hstrat.collect(None, with_emb, embedding_layer="feat", progress=False)
    np.testing.assert_allclose(p.embeddings, emb.astype(np.float32))
    two = np.c_[1 - s, s]
    p = hstrat.collect(None, [(two, y)], target=1, progress=False)
    np.testing.assert_array_equal(p.y_score, s)
    with pytest.raises(ValueError, match="pass target="):
        hstrat.collect(None, [(two, y)], progress=False)
    with pytest.raises(ValueError, match=r"applies to a torch\.nn\.Module"):
        hstrat.collect(None, [(s, y)], device="cpu", progress=False)


def test_callable_model():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 4)), np.arange(30) % 2
    batches = [(X[i : i + 8], y[i : i + 8]) for i in range(0, 30, 8)]
    p = hstrat.collect(lambda x: x[:, 0], batches, progress=False)
    np.testing.assert_array_equal(p.y_score, X[:, 0])
    assert p.embeddings is None
    p = hstrat.collect(lambda x: (x @ np.ones(4), x[:, :2]), batches, progress=False)
    np.testing.assert_allclose(p.y_score, X.sum(1))
    np.testing.assert_allclose(p.embeddings, X[:, :2].astype(np.float32))
    p = hstrat.collect(
        lambda x: (x @ np.ones(4), x[:, :2]), batches, embedding_layer=False, progress=False
    )
    assert p.embeddings is None
    p = hstrat.collect(lambda x: torch.as_tensor(x)[:, 1], batches, progress=False)
    np.testing.assert_allclose(p.y_score, X[:, 1])
    with pytest.raises(ValueError, match="names a layer"):
        hstrat.collect(lambda x: x[:, 0], batches, embedding_layer="fc", progress=False)


def test_sklearn_pipeline_and_estimator():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] + rng.normal(size=60) > 0).astype(int)
    batches = [(X[i : i + 16], y[i : i + 16]) for i in range(0, 60, 16)]
    pipe = make_pipeline(StandardScaler(), PCA(3), LogisticRegression()).fit(X, y)
    p = hstrat.collect(pipe, batches, progress=False)
    np.testing.assert_allclose(p.y_score, pipe.predict_proba(X)[:, 1])
    np.testing.assert_allclose(p.embeddings, pipe[:-1].transform(X).astype(np.float32), rtol=1e-6)
    p = hstrat.collect(pipe, batches, embedding_layer="standardscaler", progress=False)
    np.testing.assert_allclose(p.embeddings, pipe[:1].transform(X).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(p.y_score, pipe.predict_proba(X)[:, 1])
    with pytest.raises(ValueError, match="not a transformer step"):
        hstrat.collect(pipe, batches, embedding_layer="logisticregression", progress=False)
    svm = LinearSVC().fit(X, y)
    p = hstrat.collect(svm, [(torch.as_tensor(X), torch.as_tensor(y))], progress=False)
    np.testing.assert_allclose(p.y_score, svm.decision_function(X))
    np.testing.assert_allclose(p.embeddings, X.astype(np.float32))
    with pytest.raises(ValueError, match="not fitted"):
        hstrat.collect(LogisticRegression(), batches, progress=False)


def test_sklearn_multiclass_needs_target_from_classes():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 3))
    classes = np.array(["normal", "effusion", "mass"])[np.arange(90) % 3]
    clf = LogisticRegression().fit(X, classes)
    y = (classes == "mass").astype(int)
    with pytest.raises(ValueError, match="3 outputs per sample"):
        hstrat.collect(clf, [(X, y)], progress=False)
    p = hstrat.collect(clf, [(X, y)], target="mass", progress=False)
    column = list(clf.classes_).index("mass")
    np.testing.assert_allclose(p.y_score, clf.predict_proba(X)[:, column])


def test_model_type_errors():
    x, y = make_data()
    with pytest.raises(TypeError, match="Load the model first"):
        hstrat.collect("model.pt", [(x, y)], progress=False)
    with pytest.raises(TypeError, match="model must be"):
        hstrat.collect(42, [(x, y)], progress=False)
    with pytest.raises(TypeError, match="embedding_layer must be"):
        hstrat.collect(make_model(), [(x, y)], embedding_layer=True, progress=False)


def test_progress_bar_is_on_by_default_and_can_be_silenced(capsys):
    x, y = make_data()
    hstrat.collect(make_model(), loader_of(x, y), progress=False)
    assert capsys.readouterr().err == ""
    hstrat.collect(make_model(), loader_of(x, y))
    err = capsys.readouterr().err
    assert "collect" in err
    assert "4/4" in err


def test_shuffled_loader_is_flagged():
    x, y = make_data()
    p = hstrat.collect(
        make_model(), loader_of(x, y, torch.arange(N), shuffle=True), progress=False
    )
    assert p.shuffled is True
    assert sorted(p.ids.tolist()) == list(range(N))
    assert not hstrat.collect(make_model(), loader_of(x, y), progress=False).shuffled


def test_one_device_to_cpu_transfer_per_batch(monkeypatch):
    x, y = make_data()
    calls = []
    original = torch.Tensor.cpu

    def counting_cpu(self, *args, **kwargs):
        calls.append(tuple(self.shape))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
    hstrat.collect(make_model(), loader_of(x, y), progress=False)
    assert calls == [(16, 9), (16, 9), (16, 9), (2, 9)]  # 1 logit + 8 features, packed


def test_collect_draws_nothing_from_the_global_random_state():
    # a DataLoader draws its workers' base seed from the global generator on each
    # iteration; collect itself must draw nothing more (no seeding, dropout off)
    x, y = make_data()
    model = nn.Sequential(nn.Linear(D, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 1))
    loader = loader_of(x, y)
    torch.manual_seed(123)
    for _ in loader:
        pass
    expected = torch.rand(1)
    torch.manual_seed(123)
    p1 = hstrat.collect(model, loader, progress=False)
    assert torch.equal(torch.rand(1), expected)
    p2 = hstrat.collect(model, loader, progress=False)
    np.testing.assert_array_equal(p1.y_score, p2.y_score)  # dropout is off
