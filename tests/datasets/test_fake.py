from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_datasets import write_fake_cxr14, write_fake_mura  # examples/, for tests and smoke runs
from PIL import Image

import hstrat
from hstrat.datasets import CXR14_FINDINGS, load_cxr14, load_mura, mura_schema
from hstrat.strata import read_labels


def image_info(path: str | Path) -> tuple[str, tuple[int, int]]:
    with Image.open(path) as image:
        return image.mode, image.size


@pytest.mark.parametrize("csv", ["v2020", "2017"])
@pytest.mark.parametrize("layout", ["nested", "flat"])
def test_fake_cxr14_loads_in_every_format(tmp_path: Path, csv: str, layout: str) -> None:
    root = write_fake_cxr14(
        tmp_path / "cxr14", n_images=90, layout=layout, csv=csv, image_size=16, random_state=1
    )
    entry = root / ("Data_Entry_2017_v2020.csv" if csv == "v2020" else "Data_Entry_2017.csv")
    raw = pd.read_csv(entry)
    assert "OriginalImage[Width" in raw.columns
    assert "Height]" in raw.columns
    assert ("Unnamed: 11" in raw.columns) == (csv == "2017")
    assert (root / "images").is_dir() == (layout == "flat")
    assert (root / "images_003" / "images").is_dir() == (layout == "nested")

    test = load_cxr14(root, drain_labels=root, expert_labels=root)
    train = load_cxr14(root, split="train_val")
    assert len(test) + len(train) == 90
    assert not set(test.metadata["patient_id"]) & set(train.metadata["patient_id"])
    meta = test.metadata
    # NEATX annotates the pneumothorax positives; Google's experts read most test images
    assert meta.loc[meta["label"] == 1, "chest_drain"].notna().all()
    assert meta.loc[meta["label"] == 0, "chest_drain"].isna().all()
    assert (
        meta["expert_pneumothorax"]
        .dropna()
        .astype(int)
        .eq(meta.loc[meta["expert_pneumothorax"].notna(), "label"])
        .all()
    )
    assert 0 < meta["airspace_opacity"].notna().sum() < len(meta)
    # the first image is RGBA, as a few originals are; the loader keeps its first channel
    first = sorted(root.glob("images*/**/*.png") if layout == "nested" else root.glob("images/*"))
    modes = {image_info(p)[0] for p in first}
    assert modes == {"L", "RGBA"}


def test_fake_cxr14_without_annotations(tmp_path: Path) -> None:
    root = write_fake_cxr14(
        tmp_path / "c", n_images=30, with_expert_labels=False, with_drain_labels=False
    )
    assert not (root / "test_labels.csv").exists()
    assert not list(root.glob("NIH-CX14_*"))
    test = load_cxr14(root)
    assert (test.metadata["airspace_opacity_source"] == "nih_proxy").all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fake_cxr14_has_every_finding_in_both_lists(tmp_path: Path, seed: int) -> None:
    """A 14-output model can be trained and audited on the smoke runs' tree (240 images)."""
    root = write_fake_cxr14(tmp_path / "c", n_images=240, image_size=16, random_state=seed)
    for split in ("test", "train_val"):
        data = load_cxr14(root, split=split, target="all", expert_labels=root)
        assert data.labels.shape[1] == len(CXR14_FINDINGS)
        assert (data.labels.sum(axis=0) >= 2).all(), split
        # an opacity finding only where an opacity was drawn: the labels stay true
        meta = data.metadata
        proxy = meta[["consolidation", "infiltration", "pneumonia"]].any(axis=1)
        read = meta["expert_airspace_opacity"].notna()
        assert read.any()
        assert proxy[read].tolist() == meta.loc[read, "expert_airspace_opacity"].tolist()


def test_fake_trees_are_deterministic(tmp_path: Path) -> None:
    a = write_fake_cxr14(tmp_path / "a", n_images=20, image_size=16, random_state=3)
    b = write_fake_cxr14(tmp_path / "b", n_images=20, image_size=16, random_state=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all(filecmp.cmp(a / f, b / f, shallow=False) for f in files)
    m1 = write_fake_mura(tmp_path / "m1", n_studies=12, image_size=16, random_state=3)
    m2 = write_fake_mura(tmp_path / "m2", n_studies=12, image_size=16, random_state=3)
    files = sorted(p.relative_to(m1) for p in m1.rglob("*") if p.is_file())
    assert all(filecmp.cmp(m1 / f, m2 / f, shallow=False) for f in files)


def test_fake_mura_loads_and_its_labels_fit_the_schema(tmp_path: Path) -> None:
    root = write_fake_mura(tmp_path / "mura", n_studies=60, image_size=24, random_state=0)
    data = root / "MURA-v1.1"
    lines = (data / "valid_labeled_studies.csv").read_text().splitlines()
    assert lines[0].startswith("MURA-v1.1/valid/XR_")
    assert lines[0].endswith(("/,0", "/,1"))  # no header, a slash before the comma
    train, valid = load_mura(root, split="train"), load_mura(root, split="valid")
    assert not set(train.metadata["patient"]) & set(valid.metadata["patient"])
    assert valid.metadata["patient"].str[len("patient") :].astype(int).min() == 11185
    widths = {image_info(p)[1][0] for p in valid.metadata["path"]}
    assert len(widths) > 1  # images differ in size, as MURA's do

    labels = read_labels(root / "mura_subclass_labels.csv")
    studies = valid.metadata.drop_duplicates("study").set_index("study")
    assert set(labels.index) == set(studies.index[studies["label"] == 1])
    schema = hstrat.Schema.from_dict(mura_schema())
    y = pd.Series(studies["label"].to_numpy(), index=studies.index)
    variables = ["fracture", "hardware", "degenerative_joint_disease"]
    clean = schema.validate(labels, y_true=y, variables=variables)
    assert clean.notna().all().all()


def test_fake_writers_never_overwrite(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        write_fake_cxr14(tmp_path / "full")
    with pytest.raises(FileExistsError, match="not empty"):
        write_fake_mura(tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"layout": "tree"}, ValueError, "layout"),
        ({"csv": "2019"}, ValueError, "csv"),
        ({"n_images": 3}, ValueError, "n_images"),
        ({"with_expert_labels": "yes"}, TypeError, "with_expert_labels"),
        ({"prevalence": 1.5}, ValueError, "prevalence"),
    ],
)
def test_fake_cxr14_bad_arguments(
    tmp_path: Path, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        write_fake_cxr14(tmp_path / "x", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


def test_fake_mura_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid_fraction"):
        write_fake_mura(tmp_path / "x", valid_fraction=1.0)
    with pytest.raises(TypeError, match="root"):
        write_fake_mura(42)  # type: ignore[arg-type]


def test_fake_images_carry_the_signal(tmp_path: Path) -> None:
    root = write_fake_cxr14(tmp_path / "c", n_images=60, image_size=32, random_state=0)
    entries = pd.read_csv(root / "Data_Entry_2017_v2020.csv")
    drains = pd.read_csv(root / "NIH-CX14_TubeAnnotations_NonExperts_aggregated.csv")
    assert set(drains["Image Index"]) == set(
        entries.loc[entries["Finding Labels"].str.contains("Pneumothorax"), "Image Index"]
    )
    ds = load_cxr14(root, split="train_val", drain_labels=root)
    bright = np.array([ds.image_array(i).max() for i in range(len(ds))])
    drained = ds.metadata["chest_drain"].fillna(False).to_numpy(dtype=bool)
    assert drained.any()
    assert bright[drained].mean() > bright[~drained].mean()  # a drain is a bright tube
