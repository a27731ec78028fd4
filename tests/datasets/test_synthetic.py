from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch.utils.data import DataLoader

from hstrat.datasets import SyntheticCXR, make_synthetic_cxr
from hstrat.metrics import delong_ci


def test_shapes_range_and_metadata() -> None:
    ds = make_synthetic_cxr(40, image_size=32, random_state=0)
    assert isinstance(ds, SyntheticCXR)
    assert len(ds) == 40
    assert ds.images.shape == (40, 32, 32)
    assert ds.images.dtype == np.float32
    assert float(ds.images.min()) >= 0.0
    assert float(ds.images.max()) <= 1.0
    meta = ds.metadata
    assert list(meta.columns) == [
        "id",
        "split",
        "label",
        "pneumothorax",
        "chest_drain",
        "airspace_opacity",
        "side",
        "opacity_side",
        "ptx_extent",
    ]
    assert meta["id"].is_unique
    assert meta["id"].iloc[0] == "all-000000"
    assert meta["label"].sum() == 20  # exactly round(prevalence * n) positives
    assert (meta["label"] == meta["pneumothorax"]).all()
    assert ds.labels.tolist() == meta["label"].tolist()
    assert meta["chest_drain"].dtype == bool
    assert meta["airspace_opacity"].dtype == bool
    positives = meta["label"] == 1
    assert meta.loc[positives, "side"].isin(["left", "right"]).all()
    assert (meta.loc[positives, "ptx_extent"] > 0).all()
    assert (meta.loc[~positives, "ptx_extent"] == 0).all()
    has_side = positives | meta["chest_drain"]
    assert meta.loc[~has_side, "side"].isna().all()
    assert (meta["opacity_side"].notna() == meta["airspace_opacity"]).all()


def test_items_and_dataloader() -> None:
    ds = make_synthetic_cxr(10, random_state=1)
    image, label, index = ds[3]
    assert image.shape == (1, 64, 64)
    assert image.dtype == torch.float32
    np.testing.assert_array_equal(image[0].numpy(), ds.images[3])
    assert label.dtype == torch.float32
    assert float(label) == ds.labels[3]
    assert index == 3
    images, labels, idx = next(iter(DataLoader(ds, batch_size=4, shuffle=False)))
    assert images.shape == (4, 1, 64, 64)
    assert images.dtype == torch.float32
    assert labels.dtype == torch.float32
    assert labels.tolist() == ds.labels[:4].tolist()
    assert idx.tolist() == [0, 1, 2, 3]
    image[0, 0, 0] = 5.0  # items are copies: the dataset is unchanged
    assert ds.images[3, 0, 0] <= 1.0
    three = make_synthetic_cxr(2, random_state=1, transform=lambda x: x.expand(3, -1, -1))
    assert three[0][0].shape == (3, 64, 64)
    assert ds.image_array(-1) is not None
    assert ds.image_array(-1).shape == (64, 64)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = make_synthetic_cxr(30, random_state=7)
    b = make_synthetic_cxr(30, random_state=7)
    c = make_synthetic_cxr(30, random_state=8)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.metadata.equals(b.metadata)
    assert not np.array_equal(a.images, c.images)
    assert not a.metadata["label"].equals(c.metadata["label"])
    gen = make_synthetic_cxr(30, random_state=np.random.default_rng(7))
    np.testing.assert_array_equal(gen.images, a.images)


def test_rates_match_the_arguments() -> None:
    n = 3000
    ds = make_synthetic_cxr(
        n,
        image_size=16,
        prevalence=0.3,
        drain_rate_pos=0.7,
        drain_rate_neg=0.1,
        opacity_rate=0.25,
        random_state=3,
    )
    meta = ds.metadata
    pos = meta["label"] == 1
    assert pos.sum() == round(0.3 * n)

    def within(observed: float, p: float, k: int) -> bool:  # 4.5 binomial SDs
        return abs(observed - p) <= 4.5 * np.sqrt(p * (1 - p) / k)

    assert within(meta.loc[pos, "chest_drain"].mean(), 0.7, int(pos.sum()))
    assert within(meta.loc[~pos, "chest_drain"].mean(), 0.1, int((~pos).sum()))
    assert within(meta["airspace_opacity"].mean(), 0.25, n)
    assert within((meta.loc[pos, "side"] == "left").mean(), 0.5, int(pos.sum()))
    none = make_synthetic_cxr(
        200,
        image_size=16,
        drain_rate_pos=0.0,
        drain_rate_neg=0.0,
        opacity_rate=0.0,
        prevalence=0.0,
        random_state=0,
    )
    assert not none.metadata[["label", "chest_drain", "airspace_opacity"]].to_numpy().any()


def test_drains_are_bright_tubes_on_the_recorded_side() -> None:
    # Whether a case has a drain comes from one uniform draw per case, compared with the
    # rate, so two calls with the same seed that differ only in the drain rates give the
    # same images apart from the drains.
    kwargs = {"n_samples": 60, "opacity_rate": 0.3, "random_state": 11}
    with_drains = make_synthetic_cxr(drain_rate_pos=1.0, drain_rate_neg=1.0, **kwargs)
    without = make_synthetic_cxr(drain_rate_pos=0.0, drain_rate_neg=0.0, **kwargs)
    assert with_drains.metadata["chest_drain"].all()
    assert not without.metadata["chest_drain"].any()
    diff = np.abs(with_drains.images - without.images) > 1e-6
    half = with_drains.images.shape[-1] // 2
    for i, side in enumerate(with_drains.metadata["side"]):
        changed = diff[i]
        assert changed.sum() >= 40, i  # a tube, not a speck
        # the patient's left is the image's right
        on_side = changed[:, half:] if side == "left" else changed[:, :half]
        assert on_side.sum() / changed.sum() > 0.97, i
        assert np.median(with_drains.images[i][changed]) > 0.65, i


def test_parameters_change_the_images() -> None:
    base = make_synthetic_cxr(16, random_state=5)
    noisy = make_synthetic_cxr(16, noise=0.2, random_state=5)
    assert noisy.images.std() > base.images.std()
    easy = make_synthetic_cxr(16, difficulty=0.0, random_state=5)
    hard = make_synthetic_cxr(16, difficulty=1.0, random_state=5)
    pos = easy.metadata["label"].to_numpy() == 1
    assert (easy.metadata["ptx_extent"][pos] > hard.metadata["ptx_extent"][pos]).all()
    big = make_synthetic_cxr(2, image_size=128, random_state=5)
    assert big.images.shape == (2, 128, 128)


def test_split_names_ids() -> None:
    test = make_synthetic_cxr(3, split="test", random_state=0)
    assert test.metadata["id"].tolist() == ["test-000000", "test-000001", "test-000002"]
    assert (test.metadata["split"] == "test").all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, "n_samples must be an integer >= 1; got 0"),
        ({"n_samples": 2.0}, TypeError, "n_samples"),
        ({"image_size": 8}, ValueError, "image_size must be an integer >= 16; got 8"),
        ({"prevalence": 1.5}, ValueError, r"prevalence must be in \[0, 1\]; got 1.5"),
        ({"drain_rate_pos": -0.1}, ValueError, "drain_rate_pos"),
        ({"drain_rate_neg": "0.1"}, TypeError, "drain_rate_neg"),
        ({"opacity_rate": 2}, ValueError, "opacity_rate"),
        ({"difficulty": 1.2}, ValueError, "difficulty"),
        ({"noise": -1}, ValueError, "noise"),
        ({"split": ""}, TypeError, "split"),
        ({"transform": "x"}, TypeError, "transform"),
        ({"random_state": "seed"}, TypeError, "random_state"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    arguments = {"n_samples": 4, **kwargs}
    with pytest.raises(error, match=match):
        make_synthetic_cxr(**arguments)


def test_index_errors() -> None:
    ds = make_synthetic_cxr(3, random_state=0)
    with pytest.raises(IndexError, match="index 3 is out of range"):
        ds[3]
    with pytest.raises(TypeError, match="index must be an integer"):
        ds[1.0]  # type: ignore[index]


def test_import_and_numpy_use_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from hstrat.datasets import make_synthetic_cxr\n"
        "ds = make_synthetic_cxr(4, random_state=0)\n"
        "assert ds.images.shape == (4, 64, 64)\n"
        "assert ds.image_array(0).shape == (64, 64)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'PIL' not in sys.modules, 'PIL imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = make_synthetic_cxr(2, random_state=0)
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ImportError, match=r"hstrat-audit\[torch\]"):
        ds[0]


def _fit_and_score(train: SyntheticCXR, test: SyntheticCXR) -> np.ndarray:
    def features(ds: SyntheticCXR) -> np.ndarray:
        n, h, w = ds.images.shape
        return ds.images.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4)).reshape(n, -1)

    x_train, x_test = features(train), features(test)
    mean, sd = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    model = LogisticRegression(C=0.01, max_iter=1000)
    model.fit((x_train - mean) / sd, train.labels)
    return model.decision_function((x_test - mean) / sd)


def _drain_subclass_aucs(test: SyntheticCXR, scores: np.ndarray) -> tuple:
    y = test.labels.astype(bool)
    drain = test.metadata["chest_drain"].to_numpy()
    out = []
    for subclass in (y & drain, y & ~drain):  # positives of the subclass vs all negatives
        keep = subclass | ~y
        out.append(delong_ci(y[keep], scores[keep]))
    return tuple(out)


def test_a_model_learns_the_drain_shortcut() -> None:
    # Drains are common in the training positives; the test set has half of its
    # positives with and half without a drain. The gap is not drawn into the images: it
    # appears because the model learns the easy drain instead of the subtle sign.
    train = make_synthetic_cxr(2500, drain_rate_pos=0.8, split="train", random_state=0)
    test = make_synthetic_cxr(1500, drain_rate_pos=0.5, split="test", random_state=1)
    with_drain, without = _drain_subclass_aucs(test, _fit_and_score(train, test))
    assert with_drain.ci_low > without.ci_high
    assert with_drain.estimate - without.estimate > 0.2


def test_no_shortcut_without_a_correlation_in_training() -> None:
    # Control: with drains equally common in training positives and negatives the drain
    # carries no information, and positives with a drain gain nothing from it.
    train = make_synthetic_cxr(2500, drain_rate_pos=0.5, drain_rate_neg=0.5, random_state=0)
    test = make_synthetic_cxr(1500, drain_rate_pos=0.5, random_state=1)
    with_drain, without = _drain_subclass_aucs(test, _fit_and_score(train, test))
    assert with_drain.estimate < without.ci_high
    assert with_drain.estimate < 0.6
