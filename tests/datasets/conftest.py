"""Fake ChestX-ray14 and MURA trees, in the real file formats, built in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

# ---------------------------------------------------------------------------------------
# ChestX-ray14

# One row per image: (patient, follow-up, Finding Labels, view). Patients 1-6 are in the
# test list, 7-20 in train_val.
_FINDINGS_CYCLE = [
    "Pneumothorax",
    "No Finding",
    "Consolidation|Pneumothorax",
    "Infiltration",
    "Pneumonia",
    "Effusion|Pneumothorax",
    "No Finding",
    "Pleural_Thickening",
    "Hernia|Mass",
    "Nodule",
]
N_PATIENTS = 20
TEST_PATIENTS = range(1, 7)

V2020_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
    "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)


def cxr14_truth() -> pd.DataFrame:
    rows = []
    k = 0
    for patient in range(1, N_PATIENTS + 1):
        for follow_up in range(1 + patient % 3):
            rows.append(
                {
                    "Image Index": f"{patient:08d}_{follow_up:03d}.png",
                    "Finding Labels": _FINDINGS_CYCLE[k % len(_FINDINGS_CYCLE)],
                    "Follow-up #": follow_up,
                    "Patient ID": patient,
                    "Patient Age": 20 + patient,
                    "Patient Gender": "M" if patient % 2 else "F",
                    "View Position": "AP" if (patient + follow_up) % 3 == 0 else "PA",
                    "split": "test" if patient in TEST_PATIENTS else "train_val",
                }
            )
            k += 1
    return pd.DataFrame(rows)


def _write_png(path: Path, index: int) -> None:
    """Tiny 8x8 PNGs; image 0 is RGBA, image 1 is 16-bit, the rest 8-bit grayscale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if index == 0:
        rgba = np.zeros((8, 8, 4), dtype=np.uint8)
        rgba[..., 0] = 200  # the radiograph is in the first channel
        rgba[..., 3] = 255
        Image.fromarray(rgba, mode="RGBA").save(path)
    elif index == 1:
        Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(path)
    else:
        Image.fromarray(np.full((8, 8), index % 256, dtype=np.uint8)).save(path)


@dataclass
class FakeCXR14:
    root: Path
    truth: pd.DataFrame
    drain_file: Path
    expert_file: Path
    layout: str

    def image_path(self, name: str) -> Path:
        if self.layout == "flat":
            return self.root / "images" / name
        position = int(np.flatnonzero(self.truth["Image Index"].to_numpy() == name)[0])
        return self.root / f"images_{1 + position % 2:03d}" / "images" / name


def build_cxr14(root: Path, *, version: str = "v2020", layout: str = "flat") -> FakeCXR14:
    truth = cxr14_truth()
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for row in truth.itertuples(index=False):
        lines.append(
            f"{row[0]},{row[1]},{row[2]},{row[3]},{row[4]},{row[5]},{row[6]},2500,2048,0.143,0.143"
        )
    if version == "v2020":
        (root / "Data_Entry_2017_v2020.csv").write_text("\n".join([V2020_HEADER, *lines]) + "\n")
    else:  # the 2017 file: a trailing comma on every line, ages like "021Y"
        lines_2017 = [
            line.replace(f",{age},", f",{age:03d}Y,", 1) + ","
            for line, age in zip(lines, truth["Patient Age"], strict=False)
        ]
        (root / "Data_Entry_2017.csv").write_text(
            "\n".join([V2020_HEADER + ",", *lines_2017]) + "\n"
        )
    test = truth.loc[truth["split"] == "test", "Image Index"]
    train_val = truth.loc[truth["split"] == "train_val", "Image Index"]
    (root / "test_list.txt").write_text("\n".join(test) + "\n")
    (root / "train_val_list.txt").write_text("\n".join(train_val) + "\n")
    fake = FakeCXR14(root, truth, root / "labels" / "drains.csv", root / "labels", layout)
    for i, name in enumerate(truth["Image Index"]):
        _write_png(fake.image_path(name), i)

    # NEATX: annotates only some images (the pneumothorax positives and two others)
    positives = truth.loc[truth["Finding Labels"].str.contains("Pneumothorax"), "Image Index"]
    annotated = [*positives, truth["Image Index"].iloc[1], truth["Image Index"].iloc[3]]
    drains = pd.DataFrame(
        {
            "Image Index": annotated,
            "Drain": [i % 2 for i in range(len(annotated))],
            "Drain_a1": [i % 2 for i in range(len(annotated))],
            "Drain_a2": [i % 2 for i in range(len(annotated))],
            "Drain_Location_a1": "",
            "Drain_Location_a2": "",
        }
    )
    fake.drain_file.parent.mkdir(parents=True, exist_ok=True)
    drains.to_csv(fake.drain_file, index=False)

    # Google expert labels: every test image except the last, and one train_val image
    read = [*test.iloc[:-1], train_val.iloc[0]]
    expert = truth.set_index("Image Index").loc[read].reset_index()
    table = pd.DataFrame(
        {
            "Image Index": expert["Image Index"],
            "Patient ID": expert["Patient ID"],
            "Patient Age": expert["Patient Age"],
            "Patient Gender": expert["Patient Gender"],
            "View Position": expert["View Position"],
            "Fracture": "NO",
            "Pneumothorax": np.where(
                expert["Finding Labels"].str.contains("Pneumothorax"), "YES", "NO"
            ),
            "Airspace opacity": ["YES" if i % 3 == 0 else "NO" for i in range(len(expert))],
            "Nodule or mass": "NO",
            "Set Id": "test",
        }
    )
    table.iloc[:-1].to_csv(root / "labels" / "test_labels.csv", index=False)
    table.iloc[-1:].to_csv(root / "labels" / "validation_labels.csv", index=False)
    return fake


@pytest.fixture
def cxr14(tmp_path: Path) -> FakeCXR14:
    return build_cxr14(tmp_path / "cxr14")


@pytest.fixture
def make_cxr14(tmp_path: Path) -> Callable[..., FakeCXR14]:
    """Build a fake tree with a chosen label-file version and image layout."""

    def make(version: str = "v2020", layout: str = "flat") -> FakeCXR14:
        return build_cxr14(tmp_path / f"cxr14-{version}-{layout}", version=version, layout=layout)

    return make


# ---------------------------------------------------------------------------------------
# MURA

# (split, body part, patient, study, n_images)
MURA_STUDIES = [
    ("valid", "WRIST", 11185, "study1_positive", 2),
    ("valid", "ELBOW", 11186, "study1_negative", 1),
    ("valid", "HAND", 11186, "study2_positive", 1),
    ("valid", "SHOULDER", 11187, "study1_negative", 3),
    ("valid", "FINGER", 11188, "study1_positive", 1),
    ("train", "HUMERUS", 1, "study1_positive", 2),
    ("train", "FOREARM", 2, "study1_negative", 1),
    ("train", "WRIST", 2, "study2_negative", 2),
]


@dataclass
class FakeMURA:
    root: Path  # the folder that holds MURA-v1.1

    @property
    def data(self) -> Path:
        return self.root / "MURA-v1.1"


def build_mura(root: Path) -> FakeMURA:
    data = root / "MURA-v1.1"
    data.mkdir(parents=True)
    paths: dict[str, list[str]] = {"train": [], "valid": []}
    studies: dict[str, list[str]] = {"train": [], "valid": []}
    k = 0
    for split, part, patient, study, n in MURA_STUDIES:
        folder = f"MURA-v1.1/{split}/XR_{part}/patient{patient:05d}/{study}/"
        label = 1 if study.endswith("positive") else 0
        studies[split].append(f"{folder},{label}")
        for j in range(1, n + 1):
            rel = f"{folder}image{j}.png"
            paths[split].append(rel)
            file = root / rel
            file.parent.mkdir(parents=True, exist_ok=True)
            shape = (10, 12) if k % 2 else (8, 8)
            if k == 3:
                Image.fromarray(np.full((*shape, 3), 90, dtype=np.uint8), mode="RGB").save(file)
            else:
                Image.fromarray(np.full(shape, 10 * k, dtype=np.uint8)).save(file)
            k += 1
    for split in ("train", "valid"):
        (data / f"{split}_image_paths.csv").write_text("\n".join(paths[split]) + "\n")
        (data / f"{split}_labeled_studies.csv").write_text("\n".join(studies[split]) + "\n")
    return FakeMURA(root)


@pytest.fixture
def mura(tmp_path: Path) -> FakeMURA:
    return build_mura(tmp_path / "mura")
