"""Tiny, format-exact fake copies of NIH ChestX-ray14 and MURA v1.1, written to disk.

A pipeline built on :func:`hstrat.datasets.load_cxr14` or
:func:`hstrat.datasets.load_mura` can be tested end to end without the real data (tens
of gigabytes behind registration pages): these writers lay out a few dozen images in the
real folder structure, with the real file names, CSV headers and quirks, so the loaders
read them exactly as they read the originals. The paper examples' ``--smoke`` mode, the
tests and the labelling tutorial run on them; they are not part of the hstrat package
(import them as ``from fake_datasets import write_fake_cxr14`` with ``examples/`` on the
path, as it is for a script run as ``python examples/<name>.py``).

The images carry a learnable signal, so a model trained for a few seconds on a fake tree
is better than chance and an audit of it has something to find:

* ChestX-ray14 images are drawn by :func:`hstrat.datasets.make_synthetic_cxr` — a subtle
  pneumothorax, a chest drain on most positives, airspace opacity — and the labels
  (``Finding Labels``, the NEATX drain file, the Google expert labels) tell the truth
  about what was drawn. The other findings are labels only (nothing of them is drawn);
  every finding is in both split lists, so a 14-output model can be trained and audited.
* MURA images show two bones meeting at a joint; abnormal studies have a fracture line,
  orthopaedic hardware (bright and easy), degenerative joint disease (a narrowed,
  sclerotic joint: subtle) or a faint lucent lesion, with the paper's prevalences.

The numbers a model reaches on a fake tree mean nothing about the real datasets.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from PIL import Image

from hstrat._validation import (  # the package's argument checks, for the same messages
    RandomState,
    check_int,
    check_option,
    check_probability,
    check_random_state,
    describe,
)
from hstrat.datasets import CXR14_FINDINGS, MURA_BODY_PARTS, make_synthetic_cxr
from hstrat.datasets._cxr14 import DRAIN_FILE, OPACITY_PROXY

__all__ = ["FAKE_MURA_LABELS_FILE", "write_fake_cxr14", "write_fake_mura"]

CXR14_LAYOUTS: tuple[str, ...] = ("nested", "flat")
CXR14_CSV_VERSIONS: tuple[str, ...] = ("v2020", "2017")
#: File name of the fake MURA tree's subclass labels (not part of MURA: the format of
#: the labelling tool, ``hstrat label``).
FAKE_MURA_LABELS_FILE = "mura_subclass_labels.csv"
# The header of both Data_Entry files; pandas splits the two bracketed names in two.
_DATA_ENTRY_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
    "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)
_EXPERT_HEADER = _DATA_ENTRY_HEADER + (
    ",Fracture,Pneumothorax,Airspace opacity,Nodule or mass,Set Id"
)
_OTHER_FINDINGS = tuple(
    f for f in CXR14_FINDINGS if f != "Pneumothorax" and f not in OPACITY_PROXY
)
# MURA subclass prevalence among abnormal studies (Oakden-Rayner et al. 2020).
_MURA_SUBCLASS_RATES = {"fracture": 0.30, "hardware": 0.11, "degenerative_joint_disease": 0.43}


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False; got {describe(value)}.")
    return bool(value)


def _prepare_root(root: Any) -> Path:
    """Return ``root`` as a Path after checking that nothing there would be overwritten."""
    if not isinstance(root, str | os.PathLike):
        raise TypeError(f"root must be a path (str or os.PathLike); got {describe(root)}.")
    path = Path(root)
    if path.exists():
        if not path.is_dir():
            raise FileExistsError(f"root must be a new or empty folder; {path} is a file.")
        if any(path.iterdir()):
            raise FileExistsError(
                f"root must be a new or empty folder, so that no file is overwritten; "
                f"{path} is not empty."
            )
    path.mkdir(parents=True, exist_ok=True)
    return path


def _save_png(path: Path, pixels: npt.NDArray[np.uint8], mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "L":
        Image.fromarray(pixels).save(path)
    else:  # RGB or RGBA: the radiograph in every colour channel, alpha opaque
        channels = [pixels] * 3 + ([np.full_like(pixels, 255)] if mode == "RGBA" else [])
        Image.fromarray(np.stack(channels, axis=-1), mode=mode).save(path)


def _to_uint8(image: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint8]:
    return np.asarray(np.clip(np.rint(image * 255.0), 0, 255), dtype=np.uint8)


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


# ---------------------------------------------------------------------------------------
# ChestX-ray14


def write_fake_cxr14(
    root: str | os.PathLike[str],
    *,
    n_images: int = 120,
    layout: str = "nested",
    csv: str = "v2020",
    with_expert_labels: bool = True,
    with_drain_labels: bool = True,
    image_size: int = 64,
    prevalence: float = 0.3,
    drain_rate: float = 0.8,
    random_state: RandomState = None,
) -> Path:
    """Write a tiny NIH ChestX-ray14 tree in the real formats, for testing pipelines.

    The tree has what :func:`hstrat.datasets.load_cxr14` reads from a real copy: the
    ``Data_Entry`` label file, the patient-disjoint split lists and the PNGs, plus
    (optionally) the two annotation files the paper's strata come from. Images are
    drawn by :func:`hstrat.datasets.make_synthetic_cxr`, so pneumothorax, chest
    drains and airspace opacity are visible and learnable, and every label file agrees
    with what was drawn.

    Parameters
    ----------
    root : str or path-like
        A new or empty folder (created if needed); nothing is ever overwritten.
    n_images : int, default 120
        Number of images (at least 10). Patients have one to three images each (their
        follow-ups); about 30% of the patients form ``test_list.txt``.
    layout : {"nested", "flat"}, default "nested"
        ``"nested"``: as extracted from the archives, ``images_001/images/*.png``,
        ``images_002/images/*.png`` ... (40 images per archive here, about 10,000 in
        the originals); ``"flat"``: one
        ``images/`` folder.
    csv : {"v2020", "2017"}, default "v2020"
        ``"v2020"`` writes ``Data_Entry_2017_v2020.csv``; ``"2017"`` writes the original
        ``Data_Entry_2017.csv``, whose every line ends in a trailing comma (an empty
        ``Unnamed: 11`` column for pandas). Both have the bracketed header
        ``OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]`` that pandas
        splits into extra columns.
    with_expert_labels : bool, default True
        Write Google's expert labels (Majkowska et al. 2020) as ``root/test_labels.csv``
        (about 80% of the test images) and ``root/validation_labels.csv`` (a few
        train_val images): the ``Data_Entry`` columns plus ``Fracture, Pneumothorax,
        Airspace opacity, Nodule or mass`` (``YES``/``NO``) and ``Set Id``.
    with_drain_labels : bool, default True
        Write the NEATX chest-drain labels (Damgaard et al. 2023) as
        ``root/NIH-CX14_TubeAnnotations_NonExperts_aggregated.csv``, for the
        pneumothorax-positive images only: ``Image Index, Drain, Drain_a1, Drain_a2,
        Drain_Location_a1, Drain_Location_a2``.
    image_size : int, default 64
        Width and height of the PNGs (at least 16; the originals are 1024). One image is
        saved as RGBA, as a few originals are.
    prevalence : float, default 0.3
        Fraction of pneumothorax images (the real 5% would leave a tiny test set with
        hardly any positives).
    drain_rate : float, default 0.8
        Fraction of pneumothorax images with a chest drain (80% in the paper's test set).
    random_state : int, numpy.random.Generator or None
        Seed: the same seed and arguments write identical files.

    Returns
    -------
    pathlib.Path
        ``root``; pass it to :func:`hstrat.datasets.load_cxr14`, with
        ``drain_labels=root`` and ``expert_labels=root`` for the annotation files.

    Raises
    ------
    FileExistsError
        When ``root`` is a file or a folder that is not empty.

    Examples
    --------
    >>> import tempfile
    >>> from hstrat.datasets import load_cxr14
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = write_fake_cxr14(tmp.name, n_images=40, random_state=0)
    >>> for path in sorted(root.iterdir()):
    ...     print(path.name)
    Data_Entry_2017_v2020.csv
    NIH-CX14_TubeAnnotations_NonExperts_aggregated.csv
    images_001
    test_labels.csv
    test_list.txt
    train_val_list.txt
    validation_labels.csv
    >>> test = load_cxr14(root, drain_labels=root, expert_labels=root)
    >>> len(test), int(test.metadata["label"].sum())
    (10, 2)
    >>> test.metadata["airspace_opacity_source"].iloc[0]
    'google_expert'
    >>> tmp.cleanup()
    """
    n_images = check_int(n_images, "n_images", minimum=10)
    layout = check_option(layout, "layout", CXR14_LAYOUTS)
    csv = check_option(csv, "csv", CXR14_CSV_VERSIONS)
    with_expert_labels = _check_flag(with_expert_labels, "with_expert_labels")
    with_drain_labels = _check_flag(with_drain_labels, "with_drain_labels")
    image_size = check_int(image_size, "image_size", minimum=16)
    prevalence = check_probability(prevalence, "prevalence")
    drain_rate = check_probability(drain_rate, "drain_rate")
    rng = check_random_state(random_state)
    base = _prepare_root(root)

    drawn = make_synthetic_cxr(
        n_images,
        image_size=image_size,
        prevalence=prevalence,
        drain_rate_pos=drain_rate,
        split="fake",
        random_state=int(rng.integers(2**63 - 1)),
    )
    records = _cxr14_entries(drawn.metadata, rng)
    truth = pd.DataFrame(records)
    entry_lines = [
        ",".join(
            [
                row["image"],
                row["findings"],
                str(row["follow_up"]),
                str(row["patient"]),
                str(row["age"]),
                row["sex"],
                row["view"],
                f"{row['width']},{row['height']},{row['spacing']},{row['spacing']}",
            ]
        )
        for row in records
    ]
    if csv == "v2020":
        _write_lines(base / "Data_Entry_2017_v2020.csv", [_DATA_ENTRY_HEADER, *entry_lines])
    else:
        _write_lines(
            base / "Data_Entry_2017.csv",
            [_DATA_ENTRY_HEADER + ",", *(line + "," for line in entry_lines)],
        )
    test = (truth["split"] == "test").to_numpy()
    _write_lines(base / "test_list.txt", truth.loc[test, "image"].tolist())
    _write_lines(base / "train_val_list.txt", truth.loc[~test, "image"].tolist())

    for position, row in enumerate(records):
        folder = "images" if layout == "flat" else f"images_{1 + position // 40:03d}/images"
        pixels = _to_uint8(drawn.images[row["drawn"]])
        path = base / folder / row["image"]
        _save_png(path, pixels, mode="RGBA" if position == 0 else "L")

    if with_drain_labels:
        positives = truth.loc[truth["pneumothorax"]]
        drain = positives["chest_drain"].astype(int)
        location = np.where(positives["chest_drain"], positives["side"].fillna(""), "")
        pd.DataFrame(
            {
                "Image Index": positives["image"],
                "Drain": drain,
                "Drain_a1": drain,
                "Drain_a2": drain,
                "Drain_Location_a1": location,
                "Drain_Location_a2": location,
            }
        ).to_csv(base / DRAIN_FILE, index=False)

    if with_expert_labels:
        read_test = test & (rng.random(len(truth)) < 0.8)
        read_val = ~test & (rng.random(len(truth)) < 0.1)
        read_val[np.flatnonzero(~test)[0]] = True  # at least one
        for name, read, set_id in (
            ("test_labels.csv", read_test, "test"),
            ("validation_labels.csv", read_val, "validation"),
        ):
            lines = [
                ",".join(
                    [
                        line,
                        "NO",  # Fracture: not drawn
                        "YES" if row["pneumothorax"] else "NO",
                        "YES" if row["airspace_opacity"] else "NO",
                        "YES" if row["nodule_or_mass"] else "NO",
                        set_id,
                    ]
                )
                for line, row, keep in zip(entry_lines, records, read, strict=True)
                if keep
            ]
            _write_lines(base / name, [_EXPERT_HEADER, *lines])
    return base


def _cxr14_entries(drawn: pd.DataFrame, rng: np.random.Generator) -> list[dict[str, Any]]:
    """One Data_Entry row per drawn image: patients, follow-ups, findings, split."""
    n = len(drawn)
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, 4)))
    sizes[-1] -= sum(sizes) - n
    n_patients = len(sizes)
    patient_ids = np.sort(rng.choice(np.arange(1, 30 * n_patients + 1), n_patients, replace=False))
    test_patients = rng.random(n_patients) < 0.3
    one_test, one_train = rng.choice(n_patients, size=2, replace=False)
    test_patients[one_test], test_patients[one_train] = True, False  # neither list is empty
    patient = np.repeat(patient_ids, sizes)
    first_age = np.repeat(rng.integers(18, 88, n_patients), sizes)
    follow_up = np.concatenate([np.arange(k) for k in sizes])
    in_test = np.repeat(test_patients, sizes)
    order = rng.permutation(n)  # which drawn image each row shows

    rows = []
    for i in range(n):
        case = drawn.iloc[order[i]]
        findings: set[str] = set()
        if case["label"] == 1:
            findings.add("Pneumothorax")
        if case["airspace_opacity"]:
            findings.add(str(rng.choice(OPACITY_PROXY)))
        if rng.random() < 0.25:
            findings.add(str(rng.choice(_OTHER_FINDINGS)))
        rows.append(
            {
                "image": f"{patient[i]:08d}_{follow_up[i]:03d}.png",
                "findings": findings,
                "follow_up": int(follow_up[i]),
                "patient": int(patient[i]),
                "age": int(first_age[i] + follow_up[i] // 2),
                "sex": "M" if patient[i] % 2 else "F",
                "view": "PA" if rng.random() < 0.6 else "AP",
                "width": int(rng.choice([2500, 2992, 3056])),
                "height": int(rng.choice([2048, 2991, 2544])),
                "spacing": float(rng.choice([0.143, 0.139, 0.168])),
                "split": "test" if in_test[i] else "train_val",
                "drawn": int(order[i]),
                "pneumothorax": bool(case["label"] == 1),
                "chest_drain": bool(case["chest_drain"]),
                "side": case["side"],
                "airspace_opacity": bool(case["airspace_opacity"]),
            }
        )
    _every_finding_twice(rows)
    for row in rows:
        row["nodule_or_mass"] = bool({"Nodule", "Mass"} & row["findings"])
        row["findings"] = "|".join(sorted(row["findings"])) or "No Finding"
    return sorted(rows, key=lambda row: str(row["image"]))


def _every_finding_twice(rows: list[dict[str, Any]]) -> None:
    """Give each finding at least two images in each split list, where a tree lacks them.

    A finding that is only a label (nothing of it is drawn) goes to any images; an
    airspace-opacity finding only to images with a drawn opacity, so the labels stay true.
    Large trees have them all already and are left as drawn.
    """
    for split in ("test", "train_val"):
        members = [row for row in rows if row["split"] == split]
        for k, finding in enumerate(f for f in CXR14_FINDINGS if f != "Pneumothorax"):
            fits = [r for r in members if finding not in OPACITY_PROXY or r["airspace_opacity"]]
            missing = 2 - sum(finding in r["findings"] for r in fits)
            for j in range(len(fits)):
                if missing <= 0:
                    break
                row = fits[(k + j) % len(fits)]
                if finding not in row["findings"]:
                    row["findings"].add(finding)
                    missing -= 1


# ---------------------------------------------------------------------------------------
# MURA


def write_fake_mura(
    root: str | os.PathLike[str],
    *,
    n_studies: int = 90,
    image_size: int = 64,
    valid_fraction: float = 0.4,
    prevalence: float = 0.4,
    with_subclass_labels: bool = True,
    random_state: RandomState = None,
) -> Path:
    """Write a tiny MURA v1.1 tree in the real formats, for testing pipelines.

    ``root/MURA-v1.1/`` gets what :func:`hstrat.datasets.load_mura` reads from a real
    copy: the header-less ``{train,valid}_image_paths.csv`` and
    ``{train,valid}_labeled_studies.csv`` and the PNGs under
    ``{train,valid}/XR_<BODY PART>/patient<NNNNN>/study<k>_<positive|negative>/``.
    Studies have one to three images of varying width (as MURA's do; a few are RGB);
    patients have one or two studies, and none is in both splits.

    Each image shows two bones meeting at a joint. An abnormal study shows, on each of
    its images, a fracture line (30% of abnormal studies), orthopaedic hardware (11%),
    degenerative joint disease — a narrowed, sclerotic joint (43%) — or, when it has none
    of these, a faint lucent lesion: the subclass prevalences of the paper, with hardware
    easy to see and degenerative joint disease subtle.

    Parameters
    ----------
    root : str or path-like
        A new or empty folder (created if needed); nothing is ever overwritten.
    n_studies : int, default 90
        Number of studies (at least 10) over both splits.
    image_size : int, default 64
        Height of the PNGs (at least 16); widths vary from 75% to 100% of it.
    valid_fraction : float, default 0.4
        Fraction of the patients in ``valid`` (MURA's is 7%; more here so that the fake
        valid split is large enough to audit).
    prevalence : float, default 0.4
        Probability that a study is abnormal (MURA's is about 0.4).
    with_subclass_labels : bool, default True
        Also write ``root/mura_subclass_labels.csv`` — **not part of MURA**, whose
        subclasses are not public — with the true ``fracture``, ``hardware`` and
        ``degenerative_joint_disease`` (``True``/``False``) of every abnormal ``valid``
        study, in the labels format of ``hstrat label`` (``id`` is the study, as in
        ``load_mura(...).metadata["study"]``; the ``annotator`` is ``"fake"``).
    random_state : int, numpy.random.Generator or None
        Seed: the same seed and arguments write identical files.

    Returns
    -------
    pathlib.Path
        ``root`` (the folder that holds ``MURA-v1.1``); pass it to
        :func:`hstrat.datasets.load_mura`.

    Raises
    ------
    FileExistsError
        When ``root`` is a file or a folder that is not empty.

    Examples
    --------
    >>> import tempfile
    >>> from hstrat.datasets import load_mura
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = write_fake_mura(tmp.name, n_studies=20, random_state=0)
    >>> for path in sorted((root / "MURA-v1.1").iterdir()):
    ...     print(path.name)
    train
    train_image_paths.csv
    train_labeled_studies.csv
    valid
    valid_image_paths.csv
    valid_labeled_studies.csv
    >>> valid = load_mura(root, split="valid", image_size=32)
    >>> valid.metadata[["body_part", "study", "label"]].head(2)
      body_part                                         study  label
    0    FINGER  valid/XR_FINGER/patient11185/study1_negative      0
    1   FOREARM  valid/XR_FOREARM/patient11186/study1_positive      1
    >>> tmp.cleanup()
    """
    n_studies = check_int(n_studies, "n_studies", minimum=10)
    image_size = check_int(image_size, "image_size", minimum=16)
    valid_fraction = check_probability(valid_fraction, "valid_fraction")
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in (0, 1); got {valid_fraction!r}.")
    prevalence = check_probability(prevalence, "prevalence")
    with_subclass_labels = _check_flag(with_subclass_labels, "with_subclass_labels")
    rng = check_random_state(random_state)
    base = _prepare_root(root)
    data = base / "MURA-v1.1"

    records = _mura_studies(n_studies, valid_fraction, prevalence, rng)
    paths: dict[str, list[str]] = {"train": [], "valid": []}
    labelled: dict[str, list[str]] = {"train": [], "valid": []}
    for study in records:
        split = study["split"]
        folder = f"MURA-v1.1/{split}/{study['folder']}/"
        labelled[split].append(f"{folder},{study['label']}")
        for j in range(1, study["n_images"] + 1):
            relative = f"{folder}image{j}.png"
            paths[split].append(relative)
            width = round(image_size * rng.uniform(0.75, 1.0))
            pixels = _to_uint8(_draw_mura(image_size, width, study, rng))
            _save_png(base / relative, pixels, mode="RGB" if rng.random() < 0.05 else "L")
    for split in ("train", "valid"):
        _write_lines(data / f"{split}_image_paths.csv", paths[split])
        _write_lines(data / f"{split}_labeled_studies.csv", labelled[split])

    if with_subclass_labels:
        studies = pd.DataFrame(records)
        abnormal = studies.loc[(studies["split"] == "valid") & (studies["label"] == 1)]
        table = pd.DataFrame({"id": "valid/" + abnormal["folder"]})
        for name in _MURA_SUBCLASS_RATES:
            table[name] = abnormal[name].map({True: "True", False: "False"})
        table["annotator"] = "fake"
        table["labelled_at"] = "2019-09-26T00:00:00+00:00"
        table["skipped"] = ""
        table.to_csv(base / FAKE_MURA_LABELS_FILE, index=False)
    return base


def _mura_studies(
    n_studies: int, valid_fraction: float, prevalence: float, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """One row per study: split, folder (``XR_<PART>/patient<N>/study<k>_<outcome>``), truth."""
    counts: list[int] = []
    while sum(counts) < n_studies:
        counts.append(int(rng.integers(1, 3)))
    counts[-1] -= sum(counts) - n_studies
    n_patients = len(counts)
    in_valid = rng.random(n_patients) < valid_fraction
    in_valid[0], in_valid[-1] = False, True  # both splits are never empty
    # MURA numbers train patients first, then valid ones from 11185
    train_ids, valid_ids = np.flatnonzero(~in_valid), np.flatnonzero(in_valid)
    numbers = {int(p): k for k, p in enumerate(train_ids, start=1)}
    numbers.update({int(p): k for k, p in enumerate(valid_ids, start=11185)})
    rows = []
    for p in np.r_[train_ids, valid_ids]:
        number = numbers[int(p)]
        seen: dict[str, int] = {}
        for _ in range(counts[p]):
            part = str(rng.choice(MURA_BODY_PARTS))
            seen[part] = seen.get(part, 0) + 1
            label = int(rng.random() < prevalence)
            flags = {
                name: bool(label and rng.random() < rate)
                for name, rate in _MURA_SUBCLASS_RATES.items()
            }
            outcome = "positive" if label else "negative"
            rows.append(
                {
                    "split": "valid" if in_valid[p] else "train",
                    "folder": f"XR_{part}/patient{number:05d}/study{seen[part]}_{outcome}",
                    "label": label,
                    "n_images": int(rng.integers(1, 4)),
                    **flags,
                }
            )
    return rows


def _draw_mura(
    height: int, width: int, study: dict[str, Any], rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Two bones meeting at a joint, with the study's abnormality, as floats in [0, 1]."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    y /= height
    x /= width
    centre = rng.uniform(0.4, 0.6) + (y - 0.5) * rng.uniform(-0.2, 0.2)
    half_width = rng.uniform(0.12, 0.18)
    joint = rng.uniform(0.4, 0.6)
    djd, fracture, hardware = (
        bool(study[k]) for k in ("degenerative_joint_disease", "fracture", "hardware")
    )
    gap = 0.04 if djd else rng.uniform(0.06, 0.09)
    across = np.abs(x - centre) / half_width
    shaft = np.clip(1.0 - across**4, 0.0, 1.0)
    cortex = np.exp(-(((across - 0.9) / 0.12) ** 2))
    bone = 0.45 * shaft + 0.3 * cortex
    in_gap = np.abs(y - joint) < gap / 2
    bone[in_gap] *= 0.15
    if djd:  # sclerosis at the joint margins, osteophytes
        margin = np.abs(np.abs(y - joint) - gap / 2 - 0.02) < 0.02
        bone[margin & (across < 1.3)] += 0.1
    if fracture:  # a dark oblique line across one shaft, slightly displaced
        level = joint + rng.choice([-1, 1]) * rng.uniform(0.18, 0.3)
        slope = rng.uniform(-0.4, 0.4)
        line = np.abs(y - level - slope * (x - centre)) < 0.018
        bone[line & (across < 1.1)] *= 0.2
    if hardware:  # a plate along the shaft with screws across it
        top = joint + rng.uniform(0.12, 0.2)
        plate = (np.abs(x - centre - half_width * 0.8) < 0.04) & (y > top) & (y < top + 0.3)
        bone[plate] = 1.0
        for k in range(3):
            screw = np.abs(y - top - 0.05 - 0.1 * k) < 0.012
            bone[screw & (across < 1.0)] = 0.95
    if study["label"] and not (fracture or hardware or djd):
        cy, cx = joint + rng.choice([-1, 1]) * 0.2, centre
        lesion = ((y - cy) ** 2 + ((x - cx) * width / height) ** 2) < 0.06**2
        bone[lesion] *= 0.55
    image = 0.08 + bone + rng.normal(0.0, 0.04, size=bone.shape)
    return np.asarray(np.clip(image, 0.0, 1.0), dtype=np.float64)
