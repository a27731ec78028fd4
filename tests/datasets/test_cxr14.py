from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from hstrat.datasets import CXR14_FINDINGS, load_cxr14

# the fake trees are built by fixtures of conftest.py
FakeCXR14 = Any


def _expected(fake: FakeCXR14, split: str) -> pd.DataFrame:
    truth = fake.truth
    return truth.loc[truth["split"] == split].reset_index(drop=True)


@pytest.mark.parametrize("version", ["v2020", "2017"])
@pytest.mark.parametrize("layout", ["flat", "nested"])
def test_test_split_counts_labels_and_columns(
    make_cxr14: Callable[..., FakeCXR14], version: str, layout: str
) -> None:
    fake = make_cxr14(version=version, layout=layout)
    ds = load_cxr14(fake.root)
    expected = _expected(fake, "test")
    meta = ds.metadata
    assert len(ds) == len(expected) == len(meta)
    assert meta["id"].tolist() == expected["Image Index"].tolist()
    positive = expected["Finding Labels"].str.split("|").apply(lambda t: "Pneumothorax" in t)
    assert meta["label"].tolist() == positive.astype(int).tolist()
    assert ds.labels.tolist() == meta["label"].tolist()
    assert meta["patient_id"].tolist() == expected["Patient ID"].tolist()
    assert meta["view"].tolist() == expected["View Position"].tolist()
    assert meta["age"].tolist() == expected["Patient Age"].astype(float).tolist()
    assert meta["sex"].tolist() == expected["Patient Gender"].tolist()
    assert (meta["split"] == "test").all()
    assert not any(c.startswith("Unnamed") or c.endswith("]") for c in meta.columns)
    for finding in CXR14_FINDINGS:
        column = finding.lower()
        flag = expected["Finding Labels"].str.split("|").apply(lambda t, f=finding: f in t)
        assert meta[column].tolist() == flag.astype(int).tolist(), finding
    assert all(Path(p).is_file() for p in meta["path"])
    assert Path(meta["path"].iloc[0]) == fake.image_path(meta["id"].iloc[0])


def test_other_target(cxr14: FakeCXR14) -> None:
    ds = load_cxr14(cxr14.root, target="Consolidation")
    assert ds.metadata["label"].tolist() == ds.metadata["consolidation"].tolist()
    assert ds.metadata["label"].sum() >= 1


def test_every_finding_as_multi_hot_labels(cxr14: FakeCXR14) -> None:
    one = load_cxr14(cxr14.root)
    ds = load_cxr14(cxr14.root, target="all")
    columns = [f.lower() for f in CXR14_FINDINGS]
    assert ds.labels.shape == (len(one), 14)
    assert ds.labels.tolist() == ds.metadata[columns].to_numpy().tolist()
    assert ds.labels[:, CXR14_FINDINGS.index("Pneumothorax")].tolist() == one.labels.tolist()
    assert "label" not in ds.metadata.columns  # the labels are the 14 finding columns
    pd.testing.assert_frame_equal(ds.metadata, one.metadata.drop(columns="label"))
    # each item's label is the multi-hot row, and a loader batches them (B, 14)
    _, label, index = ds[2]
    assert index == 2
    assert label.dtype == torch.float32
    assert label.tolist() == ds.labels[2].astype(float).tolist()
    _, labels, _ = next(iter(DataLoader(ds, batch_size=4)))
    assert labels.shape == (4, 14)


def test_train_val_split_is_patient_disjoint_and_deterministic(cxr14: FakeCXR14) -> None:
    train = load_cxr14(cxr14.root, split="train", validation_fraction=0.25)
    val = load_cxr14(cxr14.root, split="val", validation_fraction=0.25)
    both = load_cxr14(cxr14.root, split="train_val")
    train_patients = set(train.metadata["patient_id"])
    val_patients = set(val.metadata["patient_id"])
    assert train_patients.isdisjoint(val_patients)
    assert len(train) + len(val) == len(both) == len(_expected(cxr14, "train_val"))
    assert sorted(train.metadata["id"].tolist() + val.metadata["id"].tolist()) == sorted(
        both.metadata["id"]
    )
    n_patients = len(train_patients | val_patients)
    assert len(val_patients) == round(0.25 * n_patients)
    assert set(val.metadata["split"]) == {"val"}
    assert set(train.metadata["split"]) == {"train"}
    again = load_cxr14(cxr14.root, split="val", validation_fraction=0.25)
    assert again.metadata["id"].tolist() == val.metadata["id"].tolist()
    other = load_cxr14(cxr14.root, split="val", validation_fraction=0.25, random_state=1)
    assert set(other.metadata["patient_id"]) != val_patients
    test_patients = set(load_cxr14(cxr14.root).metadata["patient_id"])
    assert test_patients.isdisjoint(train_patients | val_patients)


def test_views_filter_keeps_validation_patients(cxr14: FakeCXR14) -> None:
    pa = load_cxr14(cxr14.root, views=("PA",))
    ap = load_cxr14(cxr14.root, views=["AP"])
    assert set(pa.metadata["view"]) == {"PA"}
    assert set(ap.metadata["view"]) == {"AP"}
    assert len(pa) + len(ap) == len(load_cxr14(cxr14.root))
    val_pa = load_cxr14(cxr14.root, split="val", views=("PA",), validation_fraction=0.3)
    val = load_cxr14(cxr14.root, split="val", validation_fraction=0.3)
    assert set(val_pa.metadata["patient_id"]) <= set(val.metadata["patient_id"])


def test_drain_labels_join_with_na_for_unannotated(cxr14: FakeCXR14) -> None:
    meta = load_cxr14(cxr14.root, drain_labels=cxr14.drain_file).metadata
    drains = pd.read_csv(cxr14.drain_file).set_index("Image Index")["Drain"]
    assert str(meta["chest_drain"].dtype) == "boolean"
    for name, value in zip(meta["id"], meta["chest_drain"], strict=False):
        if name in drains.index:
            assert value is not pd.NA
            assert bool(value) == bool(drains[name])
        else:
            assert value is pd.NA
    assert meta["chest_drain"].isna().any()
    assert meta["chest_drain"].notna().any()
    assert (meta["chest_drain_source"] == "neatx").all()
    # the folder holding the file is accepted too (it must have the NEATX name)
    renamed = cxr14.drain_file.with_name("NIH-CX14_TubeAnnotations_NonExperts_aggregated.csv")
    shutil.copy(cxr14.drain_file, renamed)
    same = load_cxr14(cxr14.root, drain_labels=renamed.parent).metadata
    pd.testing.assert_series_equal(same["chest_drain"], meta["chest_drain"])


def test_without_drain_labels_every_drain_is_na(cxr14: FakeCXR14) -> None:
    meta = load_cxr14(cxr14.root).metadata
    assert meta["chest_drain"].isna().all()
    assert (meta["chest_drain_source"] == "none").all()


def test_expert_labels_give_opacity_with_na(cxr14: FakeCXR14) -> None:
    meta = load_cxr14(cxr14.root, expert_labels=cxr14.expert_file).metadata
    expert = pd.read_csv(cxr14.expert_file / "test_labels.csv").set_index("Image Index")
    assert (meta["airspace_opacity_source"] == "google_expert").all()
    last = meta["id"].iloc[-1]  # not read by the experts
    assert meta["airspace_opacity"].iloc[-1] is pd.NA
    assert last not in expert.index
    for name, value, ptx in zip(
        meta["id"][:-1],
        meta["airspace_opacity"][:-1],
        meta["expert_pneumothorax"][:-1],
        strict=False,
    ):
        assert bool(value) == (expert.loc[name, "Airspace opacity"] == "YES")
        assert bool(ptx) == (expert.loc[name, "Pneumothorax"] == "YES")
    # the same from the two files named explicitly, and from the validation file
    files = [cxr14.expert_file / "test_labels.csv", cxr14.expert_file / "validation_labels.csv"]
    listed = load_cxr14(cxr14.root, expert_labels=files).metadata
    pd.testing.assert_series_equal(listed["airspace_opacity"], meta["airspace_opacity"])
    train_val = load_cxr14(cxr14.root, split="train_val", expert_labels=files).metadata
    assert train_val["airspace_opacity"].notna().sum() == 1


def test_opacity_proxy_from_nih_labels(cxr14: FakeCXR14) -> None:
    meta = load_cxr14(cxr14.root, split="train_val").metadata
    proxy = (
        meta["finding_labels"]
        .str.split("|")
        .apply(lambda t: bool({"Consolidation", "Infiltration", "Pneumonia"} & set(t)))
    )
    assert meta["airspace_opacity"].tolist() == proxy.tolist()
    assert meta["airspace_opacity"].notna().all()
    assert proxy.any()
    assert not proxy.all()
    assert (meta["airspace_opacity_source"] == "nih_proxy").all()
    assert meta["expert_airspace_opacity"].isna().all()


def test_images_rgba_and_16bit_read_as_grayscale(cxr14: FakeCXR14) -> None:
    ds = load_cxr14(cxr14.root)
    first, second = cxr14.truth["Image Index"].iloc[:2]
    ids = ds.metadata["id"].tolist()
    rgba = ds.image_array(ids.index(first))
    sixteen = ds.image_array(ids.index(second))
    assert rgba.shape == (8, 8)
    assert rgba.dtype == np.float32
    np.testing.assert_allclose(rgba, 200 / 255)
    np.testing.assert_allclose(sixteen, 128 / 255)  # 32768 / 257 rounds to 128
    image, label, index = ds[ids.index(second)]
    assert image.dtype == torch.float32
    assert tuple(image.shape) == (1, 8, 8)
    assert label.dtype == torch.float32
    assert label.ndim == 0
    assert index == ids.index(second)


def test_dataloader_batches_with_resize(cxr14: FakeCXR14) -> None:
    ds = load_cxr14(cxr14.root, image_size=16)
    images, labels, index = next(iter(DataLoader(ds, batch_size=4)))
    assert images.shape == (4, 1, 16, 16)
    assert images.dtype == torch.float32
    assert labels.dtype == torch.float32
    assert labels.tolist() == ds.labels[:4].tolist()
    assert index.tolist() == [0, 1, 2, 3]
    assert float(images.min()) >= 0.0
    assert float(images.max()) <= 1.0


def test_transform_gets_the_pil_image(cxr14: FakeCXR14) -> None:
    seen = []

    def transform(image: object) -> str:
        seen.append(image)
        return "done"

    ds = load_cxr14(cxr14.root, transform=transform, image_size=4)
    x, _, _ = ds[0]
    assert x == "done"
    assert seen[0].mode == "L"
    assert seen[0].size == (4, 4)


def test_missing_data_entry_names_the_file(cxr14: FakeCXR14) -> None:
    (cxr14.root / "Data_Entry_2017_v2020.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"Data_Entry_2017_v2020\.csv") as err:
        load_cxr14(cxr14.root)
    assert "nihcc.app.box.com" in str(err.value)
    assert "images_001/images" in str(err.value)


@pytest.mark.parametrize(
    ("split", "name"), [("test", "test_list.txt"), ("val", "train_val_list.txt")]
)
def test_missing_split_list_names_the_file(cxr14: FakeCXR14, split: str, name: str) -> None:
    (cxr14.root / name).unlink()
    with pytest.raises(FileNotFoundError, match=name):
        load_cxr14(cxr14.root, split=split)


def test_missing_image_names_it(cxr14: FakeCXR14) -> None:
    name = _expected(cxr14, "test")["Image Index"].iloc[2]
    cxr14.image_path(name).unlink()
    with pytest.raises(FileNotFoundError, match=name.replace(".", r"\.")):
        load_cxr14(cxr14.root)


def test_missing_image_folder_and_root(cxr14: FakeCXR14, tmp_path: Path) -> None:
    shutil.rmtree(cxr14.root / "images")
    with pytest.raises(FileNotFoundError, match="image folder"):
        load_cxr14(cxr14.root)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_cxr14(tmp_path / "nowhere")


def test_missing_annotation_files_name_them(cxr14: FakeCXR14) -> None:
    with pytest.raises(FileNotFoundError, match=r"(?s)absent\.csv.*zenodo"):
        load_cxr14(cxr14.root, drain_labels=cxr14.root / "absent.csv")
    with pytest.raises(FileNotFoundError, match=r"TubeAnnotations"):
        load_cxr14(cxr14.root, drain_labels=cxr14.root)
    with pytest.raises(FileNotFoundError, match=r"gone\.csv"):
        load_cxr14(cxr14.root, expert_labels=cxr14.root / "gone.csv")
    with pytest.raises(FileNotFoundError, match=r"test_labels\.csv"):
        load_cxr14(cxr14.root, expert_labels=cxr14.root / "images")


def test_malformed_annotation_files_are_refused(cxr14: FakeCXR14) -> None:
    table = pd.read_csv(cxr14.drain_file)
    table.loc[0, "Drain"] = 2
    table.to_csv(cxr14.drain_file, index=False)
    with pytest.raises(ValueError, match=r"'Drain' must be 0 or 1"):
        load_cxr14(cxr14.root, drain_labels=cxr14.drain_file)
    expert = cxr14.expert_file / "test_labels.csv"
    table = pd.read_csv(expert)
    table.loc[0, "Airspace opacity"] = "MAYBE"
    table.to_csv(expert, index=False)
    with pytest.raises(ValueError, match=r"YES or NO.*MAYBE"):
        load_cxr14(cxr14.root, expert_labels=expert)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"split": "validation"}, ValueError, "split must be one of.*'validation'"),
        (
            {"target": "pneumothorax"},
            ValueError,
            "target must be one of.*Did you mean 'Pneumothorax'",
        ),
        ({"views": "PA"}, TypeError, "views must be a non-empty sequence"),
        ({"views": ("PA", "LL")}, ValueError, "views must be one of.*'LL'"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction"),
        ({"split": "val", "validation_fraction": 0.0}, ValueError, "validation_fraction > 0"),
        ({"image_size": 0}, ValueError, "image_size"),
        ({"transform": 3}, TypeError, "transform must be a callable"),
        ({"drain_labels": 5}, TypeError, "drain_labels"),
    ],
)
def test_bad_arguments(cxr14: FakeCXR14, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        load_cxr14(cxr14.root, **kwargs)
