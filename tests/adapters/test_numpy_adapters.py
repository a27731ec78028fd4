import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import hstrat
from hstrat.adapters import CallableAdapter, LoaderScores, SklearnAdapter, as_array


def test_sklearn_pipeline_on_dataframe_batches():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"age": rng.normal(60, 10, 40), "site": np.where(np.arange(40) % 2, "a", "b")}
    )
    y = (frame["age"] > 60).astype(int).to_numpy()
    pipe = make_pipeline(
        make_column_transformer((StandardScaler(), ["age"]), (OneHotEncoder(), ["site"])),
        LogisticRegression(),
    ).fit(frame, y)
    batches = [(frame.iloc[i : i + 10], y[i : i + 10]) for i in range(0, 40, 10)]
    p = hstrat.collect(pipe, batches, progress=False)
    np.testing.assert_allclose(p.y_score, pipe.predict_proba(frame)[:, 1])
    assert p.embeddings.shape == (40, 3)
    with pytest.raises(ValueError, match="not numeric"):
        hstrat.collect(LogisticRegressionOnFrames().fit(frame, y), batches, progress=False)


class LogisticRegressionOnFrames(LogisticRegression):
    def fit(self, X, y):
        return super().fit(X[["age"]].to_numpy(), y)

    def predict_proba(self, X):
        return super().predict_proba(X[["age"]].to_numpy())


def test_sparse_features_become_dense_embeddings():
    texts = np.array(["chest drain", "no drain", "drain in situ", "clear"] * 5)
    y = np.array([1, 0, 1, 0] * 5)
    pipe = make_pipeline(CountVectorizer(), LogisticRegression()).fit(texts, y)
    out = SklearnAdapter(pipe).predict(texts[:4])
    assert isinstance(out.embeddings, np.ndarray)
    assert out.embeddings.dtype == np.float32
    assert out.embeddings.shape == (4, len(pipe[0].vocabulary_))
    assert SklearnAdapter(pipe, embedding_layer=False).predict(texts[:4]).embeddings is None
    with pytest.raises(ValueError, match="not a Pipeline"):
        SklearnAdapter(pipe[-1], embedding_layer="countvectorizer")
    with pytest.raises(TypeError, match="predict_proba or decision_function"):
        SklearnAdapter(object())


def test_sklearn_fingerprint_follows_the_fitted_state():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 2
    a = SklearnAdapter(LogisticRegression().fit(X, y)).fingerprint()
    b = SklearnAdapter(LogisticRegression().fit(X, y)).fingerprint()
    c = SklearnAdapter(LogisticRegression(C=0.1).fit(X, y)).fingerprint()
    assert a == b != c


def test_callable_adapter_contract():
    adapter = CallableAdapter(lambda x: (x[:, 0], x))
    out = adapter.predict(np.ones((3, 2)))
    assert out.outputs.shape == (3, 1)
    assert out.embeddings.shape == (3, 2)
    with pytest.raises(ValueError, match="tuple of length 3"):
        CallableAdapter(lambda x: (x, x, x)).predict(np.ones((3, 2)))
    with pytest.raises(TypeError, match="must be numbers"):
        CallableAdapter(lambda x: ["a"] * len(x)).predict(np.ones((3, 2)))
    with pytest.raises(ValueError, match="one row per sample"):
        CallableAdapter(lambda x: (x[:, 0], x[:2])).predict(np.ones((3, 2)))
    with pytest.raises(TypeError, match="must be callable"):
        CallableAdapter(3)


def named(x):
    return x[:, 0]


def test_callable_fingerprints():
    assert CallableAdapter(named).fingerprint() == CallableAdapter(named).fingerprint()
    lam = CallableAdapter(lambda x: x[:, 1]).fingerprint()
    assert lam["state"] is None
    assert lam["code"] != CallableAdapter(named).fingerprint()["code"]
    assert LoaderScores().fingerprint() == {"kind": "loader scores"}


def test_as_array():
    assert as_array(["a", "bb"]).dtype.kind == "U"
    ragged = as_array([[1, 2], [3]])
    assert ragged.dtype == object
    assert len(ragged) == 2
    assert as_array(pd.Series([1, 2])).tolist() == [1, 2]


FINGERPRINT_SCRIPT = """
import json, torch
from hstrat.adapters import CallableAdapter, TorchAdapter

def score(x):  # nested code (a comprehension, a lambda) and a frozenset constant
    return [v for v in x if v in {"a", "b", "c"}] + list(map(lambda t: t, x))

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(3, 1))
model.tags = {"x", "y", "z"}
model.act = score
print(json.dumps([CallableAdapter(score).fingerprint(), TorchAdapter(model).fingerprint()]))
"""


def test_fingerprints_are_the_same_in_another_process():
    # Memory addresses (in the repr of nested code) and the string hash seed (the order of
    # sets) must not reach a fingerprint, or a cache would be refused on every run.
    import json
    import os
    import subprocess
    import sys

    runs = [
        subprocess.run(
            [sys.executable, "-c", FINGERPRINT_SCRIPT],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    ]
    assert json.loads(runs[0]) == json.loads(runs[1])
