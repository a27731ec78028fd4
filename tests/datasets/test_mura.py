from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from hstrat.datasets import MURA_BODY_PARTS, aggregate_to_study, load_mura

# the fake tree is built by the `mura` fixture of conftest.py
FakeMURA = Any


def test_valid_split_metadata(mura: FakeMURA) -> None:
    ds = load_mura(mura.root)
    meta = ds.metadata
    assert len(ds) == 8  # 2 + 1 + 1 + 3 + 1 images
    assert list(meta.columns) == [
        "id",
        "path",
        "split",
        "body_part",
        "patient",
        "study",
        "label",
        "image",
    ]
    assert meta["study"].nunique() == 5
    assert meta["patient"].nunique() == 4
    assert set(meta["body_part"]) == {"WRIST", "ELBOW", "HAND", "SHOULDER", "FINGER"}
    assert set(meta["body_part"]) <= set(MURA_BODY_PARTS)
    assert (meta["split"] == "valid").all()
    assert meta["study"].iloc[0] == "valid/XR_WRIST/patient11185/study1_positive"
    assert meta["id"].iloc[0] == "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/image1.png"
    assert meta["patient"].iloc[0] == "patient11185"
    assert meta["label"].tolist() == [1, 1, 0, 1, 0, 0, 0, 1]
    assert meta["label"].tolist() == [int(s.endswith("positive")) for s in meta["study"]]
    assert ds.labels.tolist() == meta["label"].tolist()
    assert all(Path(p).is_file() for p in meta["path"])
    # one patient with two studies of different body parts keeps them apart
    p = meta.loc[meta["patient"] == "patient11186"]
    assert p["study"].nunique() == 2


def test_train_split(mura: FakeMURA) -> None:
    meta = load_mura(mura.root, split="train").metadata
    assert len(meta) == 5
    assert (meta["split"] == "train").all()
    assert meta["study"].nunique() == 3


def test_root_may_be_the_data_folder_even_renamed(mura: FakeMURA, tmp_path: Path) -> None:
    direct = load_mura(mura.data).metadata
    renamed = tmp_path / "my-mura"
    shutil.copytree(mura.data, renamed)
    moved = load_mura(renamed).metadata
    assert direct["study"].tolist() == moved["study"].tolist()
    assert all(p.startswith(str(renamed)) for p in moved["path"])
    assert all(Path(p).is_file() for p in moved["path"])


def test_items_and_dataloader(mura: FakeMURA) -> None:
    ds = load_mura(mura.root, image_size=6)
    image, label, index = ds[3]
    assert image.shape == (1, 6, 6)
    assert image.dtype == torch.float32
    assert label.dtype == torch.float32
    assert float(label) == float(ds.labels[3])
    assert index == 3
    # the RGB image (the fourth written, of the HAND study) keeps its first channel
    np.testing.assert_allclose(load_mura(mura.root).image_array(3), 90 / 255)
    images, labels, idx = next(iter(DataLoader(ds, batch_size=8)))
    assert images.shape == (8, 1, 6, 6)
    assert labels.tolist() == ds.labels.astype(float).tolist()
    assert idx.tolist() == list(range(8))
    assert ds[-1][2] == 7
    with pytest.raises(IndexError, match="out of range"):
        ds[8]
    with pytest.raises(TypeError, match="index must be an integer"):
        ds["0"]  # type: ignore[index]


def test_missing_folder_and_csvs_name_them(mura: FakeMURA, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="stanfordmlgroup"):
        load_mura(tmp_path / "nothing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"MURA-v1\.1 not found"):
        load_mura(empty)
    (mura.data / "valid_labeled_studies.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"valid_labeled_studies\.csv"):
        load_mura(mura.root)
    (mura.data / "valid_image_paths.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"valid_image_paths\.csv"):
        load_mura(mura.root)


def test_missing_image_is_named(mura: FakeMURA) -> None:
    missing = mura.data / "valid/XR_SHOULDER/patient11187/study1_negative/image2.png"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=r"patient11187/study1_negative/image2\.png"):
        load_mura(mura.root)


def test_label_disagreeing_with_folder_names_the_study(mura: FakeMURA) -> None:
    csv = mura.data / "valid_labeled_studies.csv"
    csv.write_text(csv.read_text().replace("study1_negative/,0", "study1_negative/,1", 1))
    with pytest.raises(ValueError, match=r"patient11186/study1_negative.*labelled 1"):
        load_mura(mura.root)


def test_study_without_label_and_bad_lines(mura: FakeMURA) -> None:
    csv = mura.data / "valid_labeled_studies.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(ValueError, match=r"study1_positive.*no label"):
        load_mura(mura.root)
    csv.write_text("\n".join([*lines, "MURA-v1.1/valid/XR_HAND/patient1/study9_positive/,yes"]))
    with pytest.raises(ValueError, match=r"line 6.*<0\|1>"):
        load_mura(mura.root)
    paths = mura.data / "valid_image_paths.csv"
    csv.write_text("\n".join(lines) + "\n")
    paths.write_text(
        paths.read_text() + "MURA-v1.1/valid/XR_KNEE/patient1/study1_positive/image1.png\n"
    )
    with pytest.raises(ValueError, match="XR_KNEE"):
        load_mura(mura.root)
    paths.write_text("MURA-v1.1/valid/wrist/image1.png\n")
    with pytest.raises(ValueError, match="does not follow the MURA layout"):
        load_mura(mura.root)


def test_bad_arguments(mura: FakeMURA) -> None:
    with pytest.raises(ValueError, match=r"split must be one of.*'val'.*Did you mean 'valid'"):
        load_mura(mura.root, split="val")
    with pytest.raises(TypeError, match="image_size"):
        load_mura(mura.root, image_size=2.5)
    with pytest.raises(TypeError, match="transform"):
        load_mura(mura.root, transform="resize")


def test_aggregate_to_study(mura: FakeMURA) -> None:
    meta = load_mura(mura.root).metadata
    scores = np.arange(len(meta), dtype=float)
    mean = aggregate_to_study(scores, meta)
    maxed = aggregate_to_study(scores, meta, how="max")
    assert list(mean.columns) == ["study", "body_part", "patient", "label", "score", "n_images"]
    assert mean["study"].tolist() == list(dict.fromkeys(meta["study"]))
    assert mean["n_images"].tolist() == [2, 1, 1, 3, 1]
    assert mean["score"].tolist() == [0.5, 2.0, 3.0, 5.0, 7.0]
    assert maxed["score"].tolist() == [1.0, 2.0, 3.0, 6.0, 7.0]
    assert mean["label"].tolist() == [1, 0, 1, 0, 1]
    assert mean["body_part"].tolist() == ["WRIST", "ELBOW", "HAND", "SHOULDER", "FINGER"]
    series = aggregate_to_study(pd.Series(scores, index=meta.index), meta)
    pd.testing.assert_frame_equal(series, mean)


def test_aggregate_to_study_refuses_bad_input(mura: FakeMURA) -> None:
    meta = load_mura(mura.root).metadata
    with pytest.raises(ValueError, match="one entry per case"):
        aggregate_to_study(np.zeros(3), meta)
    with pytest.raises(ValueError, match="how must be one of"):
        aggregate_to_study(np.zeros(len(meta)), meta, how="median")
    with pytest.raises(ValueError, match="finite"):
        aggregate_to_study(np.full(len(meta), np.nan), meta)
    broken = meta.copy()
    broken.loc[0, "label"] = 0
    with pytest.raises(ValueError, match=r"study1_positive.*different labels"):
        aggregate_to_study(np.zeros(len(meta)), broken)
    with pytest.raises(ValueError, match="'study'"):
        aggregate_to_study(np.zeros(len(meta)), meta.drop(columns="study"))
    with pytest.raises(ValueError, match="positions or ids"):
        aggregate_to_study(pd.Series(np.zeros(len(meta)), index=meta.index + 1), meta)
