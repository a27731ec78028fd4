"""NIH ChestX-ray14 (Wang et al., CVPR 2017) from a local copy, with the paper's strata.

Nothing is downloaded; :func:`load_cxr14` names where the files come from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._validation import (
    RandomState,
    check_int,
    check_option,
    check_probability,
    check_random_state,
    describe,
)
from ._images import ImageFileDataset, check_transform

#: The 14 findings of ChestX-ray14, spelled as in ``Finding Labels``.
CXR14_FINDINGS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
CXR14_SPLITS: tuple[str, ...] = ("train", "val", "test", "train_val")
CXR14_VIEWS: tuple[str, ...] = ("PA", "AP")
#: NIH findings whose union stands in for "airspace opacity" without expert labels.
OPACITY_PROXY: tuple[str, ...] = ("Consolidation", "Infiltration", "Pneumonia")
EXPERT_FINDINGS: tuple[str, ...] = (
    "Fracture",
    "Pneumothorax",
    "Airspace opacity",
    "Nodule or mass",
)

NIH_URL = "https://nihcc.app.box.com/v/ChestXray-NIHCC"
NEATX_URL = "https://zenodo.org/records/14944064"
EXPERT_URL = "https://cloud.google.com/healthcare/docs/resources/public-datasets/nih-chest"
DRAIN_FILE = "NIH-CX14_TubeAnnotations_NonExperts_aggregated.csv"
EXPERT_FILES: tuple[str, ...] = ("test_labels.csv", "validation_labels.csv")
DATA_ENTRY_FILES: tuple[str, ...] = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv")
SPLIT_FILES = {"train_val": "train_val_list.txt", "test": "test_list.txt"}

LAYOUT = f"""\
Expected layout (NIH ChestX-ray14, from {NIH_URL}):
    <root>/
        Data_Entry_2017_v2020.csv        (or Data_Entry_2017.csv)
        train_val_list.txt
        test_list.txt
        images/00000001_000.png ...          flat, or as extracted from the archives:
        images_001/images/00000001_000.png ...
Nothing is downloaded by hstrat."""


def _column_name(finding: str) -> str:
    """Return the metadata column of a finding: ``"Nodule or mass"`` → ``"nodule_or_mass"``."""
    return re.sub(r"[^0-9a-z]+", "_", finding.lower()).strip("_")


def _missing(what: str, path: Path) -> FileNotFoundError:
    return FileNotFoundError(f"{what} not found: {path}\n{LAYOUT}")


def _refuse_repeats(images: Iterable[Any], where: str) -> None:
    repeated = pd.Index(list(images))
    repeated = repeated[repeated.duplicated()]
    if len(repeated):
        raise ValueError(f"{where}: the image {repeated[0]!r} is listed more than once.")


def _read_table(path: Path, columns: Sequence[str], expected: str) -> pd.DataFrame:
    """Read a CSV with one row per ``Image Index``; refuse absent columns and repeats.

    The bracketed header ``OriginalImage[Width,Height]`` of the Data_Entry files is split
    by pandas into two columns, which are kept; the 2017 file's trailing comma makes an
    empty ``Unnamed: 11`` column, which is dropped.
    """
    table = pd.read_csv(path, dtype={"Image Index": str, "Finding Labels": str})
    table = table.loc[:, [c for c in table.columns if not str(c).startswith("Unnamed:")]]
    table.columns = [str(c).strip() for c in table.columns]
    absent = [c for c in ("Image Index", *columns) if c not in table.columns]
    if absent:
        raise ValueError(
            f"{path} lacks the column(s) {absent!r}; found {list(table.columns)!r}. "
            f"Expected {expected}."
        )
    _refuse_repeats(table["Image Index"], str(path))
    return table


def _flags(
    table: pd.DataFrame, column: str, values: pd.Series, allowed: Mapping[Any, bool], path: Path
) -> pd.Series:
    """Nullable booleans from ``values`` (``column`` normalised) by ``allowed``; else refused."""
    flags = values.map(allowed)
    bad = table[column].notna() & flags.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}: column {column!r} must be {' or '.join(map(str, allowed))} (or empty); "
            f"got {table[column].iloc[row]!r} for image {table['Image Index'].iloc[row]!r}."
        )
    return flags.astype("boolean")


def _parse_age(values: pd.Series) -> pd.Series:
    """Ages as numbers; the old ``"058Y"`` spelling is read as 58 (``"M"``/``"D"`` as NaN)."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype(str).str.strip().str.upper()
    years = pd.to_numeric(text.str.extract(r"^(\d+)Y?$", expand=False), errors="coerce")
    return years.astype(float)


def _image_index(root: Path) -> dict[str, str]:
    """Map every PNG file name under the accepted image folders to its path."""
    folders = [root / "images"] if (root / "images").is_dir() else []
    for archive in sorted(root.glob("images_*")):
        if archive.is_dir():
            folders.append(archive / "images" if (archive / "images").is_dir() else archive)
    if not folders:
        raise _missing(
            "The ChestX-ray14 image folder (images/ or images_001/images/ ...)", root / "images"
        )
    found: dict[str, str] = {}
    for folder in folders:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.lower().endswith(".png") and entry.name not in found:
                    found[entry.name] = entry.path
    return found


def _finding_flags(labels: pd.Series, path: Path) -> pd.DataFrame:
    """One 0/1 column per finding, from the pipe-separated ``Finding Labels``."""
    tokens = [{t.strip() for t in row.split("|")} for row in labels.fillna("")]
    unknown = sorted(set().union(*tokens) - {*CXR14_FINDINGS, "No Finding"})
    if unknown:
        raise ValueError(
            f"{path} has Finding Labels outside the 14 findings and 'No Finding': {unknown[:5]!r}."
        )
    return pd.DataFrame(
        {_column_name(f): [int(f in row) for row in tokens] for f in CXR14_FINDINGS},
        index=labels.index,
        dtype=np.int64,
    )


def _patient_validation(
    patients: pd.Series, fraction: float, random_state: RandomState
) -> set[Any]:
    """Patients set aside for validation: a seeded permutation of the sorted ids."""
    unique = np.sort(np.asarray(patients.unique()))
    if fraction == 0.0 or len(unique) == 0:
        return set()
    n_val = min(len(unique), max(1, round(fraction * len(unique))))
    order = check_random_state(random_state).permutation(len(unique))
    return set(unique[order[:n_val]].tolist())


def _boolean(values: Any, index: pd.Index) -> pd.Series:
    """Return a nullable-boolean column (True / False / NA) on ``index``, by position."""
    return pd.Series(np.asarray(values, dtype=object), index=index, dtype="boolean")


def _as_paths(value: Any, name: str) -> list[Path]:
    if isinstance(value, (str, os.PathLike)):
        return [Path(value)]
    if (
        isinstance(value, Sequence)
        and value
        and all(isinstance(v, (str, os.PathLike)) for v in value)
    ):
        return [Path(v) for v in value]
    raise TypeError(
        f"{name} must be a path (str or os.PathLike), a list of paths, or None; "
        f"got {describe(value)}."
    )


def _read_drains(path: Path) -> pd.Series:
    """NEATX drain labels as a nullable boolean Series indexed by image name."""
    path = path / DRAIN_FILE if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(
            f"The chest-drain label file was not found: {path}\n"
            f"drain_labels= expects {DRAIN_FILE} (NEATX, Damgaard et al. 2023) from "
            f"{NEATX_URL}, or the folder that holds it. Nothing is downloaded by hstrat."
        )
    table = _read_table(path, ["Drain"], f"the NEATX file {DRAIN_FILE}")
    drain = pd.to_numeric(table["Drain"], errors="coerce")
    return _flags(table, "Drain", drain, {0: False, 1: True}, path).set_axis(table["Image Index"])


def _read_expert(paths: list[Path]) -> pd.DataFrame:
    """Google's expert labels (YES/NO) as nullable booleans indexed by image name."""
    files: list[Path] = []
    for place in paths:
        inside = [place / n for n in EXPERT_FILES if (place / n).is_file()]
        found = inside if place.is_dir() else [place] if place.is_file() else []
        if not found:
            raise FileNotFoundError(
                f"No expert label file found at {place}\n"
                f"expert_labels= expects test_labels.csv and/or validation_labels.csv "
                f"(Majkowska et al. 2020) from {EXPERT_URL}, or the folder that holds them. "
                "Nothing is downloaded by hstrat."
            )
        files.extend(found)
    parts = []
    for path in files:
        table = _read_table(path, EXPERT_FINDINGS, "the Google expert labels")
        answers = {f: table[f].astype("string").str.strip().str.upper() for f in EXPERT_FINDINGS}
        flags = {
            "expert_" + _column_name(f): _flags(
                table, f, answers[f], {"YES": True, "NO": False}, path
            )
            for f in EXPERT_FINDINGS
        }
        parts.append(pd.DataFrame(flags).set_axis(table["Image Index"]))
    expert = pd.concat(parts)
    _refuse_repeats(expert.index, f"The expert label files {[str(f) for f in files]}")
    return expert


def load_cxr14(
    root: str | os.PathLike[str],
    *,
    split: str = "test",
    target: str = "Pneumothorax",
    views: Sequence[str] = ("PA", "AP"),
    expert_labels: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    drain_labels: str | os.PathLike[str] | None = None,
    transform: Callable[[Any], Any] | None = None,
    image_size: int | None = None,
    validation_fraction: float = 0.1,
    random_state: RandomState = 0,
) -> ImageFileDataset:
    """Load NIH ChestX-ray14 from a local copy, with chest-drain and opacity strata.

    Checks that every selected image is on disk (images are read lazily, one per item)
    and joins the optional drain and expert labels by image name. Nothing is
    downloaded: the dataset comes from https://nihcc.app.box.com/v/ChestXray-NIHCC.

    Parameters
    ----------
    root : str or path-like
        The ChestX-ray14 folder: ``Data_Entry_2017_v2020.csv`` (or the 2017 file), the
        split lists and the PNGs, flat in ``images/`` or as extracted from the archives
        (``images_001/images/`` ...).
    split : {"train", "val", "test", "train_val"}, default "test"
        ``"test"`` and ``"train_val"`` are the official lists; ``"val"`` is
        ``validation_fraction`` of the *patients* of ``train_val`` and ``"train"`` the
        rest, so no patient is in both.
    target : str, default "Pneumothorax"
        One of :data:`CXR14_FINDINGS` (positive when among the image's ``Finding
        Labels``), or ``"all"``: a multi-hot label of the 14 findings per item
        (``dataset.labels`` of shape ``(n, 14)``, in the order of :data:`CXR14_FINDINGS`).
    views : sequence of {"PA", "AP"}, default ("PA", "AP")
        Keep only these view positions (chosen after the validation patients).
    expert_labels : path or list of paths, optional
        Google's expert labels of four findings (Majkowska et al., Radiology 2020) from
        https://cloud.google.com/healthcare/docs/resources/public-datasets/nih-chest:
        ``test_labels.csv`` and/or ``validation_labels.csv``, or a folder holding them.
    drain_labels : path, optional
        NEATX's chest-drain labels (Damgaard et al. 2023) from
        https://zenodo.org/records/14944064, the file
        ``NIH-CX14_TubeAnnotations_NonExperts_aggregated.csv`` or its folder.
    transform, image_size : optional
        As for :class:`ImageFileDataset`; the originals are 1024x1024.
    validation_fraction : float in [0, 1), default 0.1
        Fraction of the ``train_val`` patients that form ``"val"``.
    random_state : int, numpy.random.Generator or None, default 0
        Seed of the choice of validation patients (the default: the same split each call).

    Returns
    -------
    ImageFileDataset
        Items ``(image, label, index)``; ``dataset.metadata`` has one row per image with
        the columns ``id`` (the image name), ``path``, ``patient_id``, ``follow_up``,
        ``view``, ``age``, ``sex``, ``finding_labels``, one 0/1 column per finding
        (``atelectasis`` ... ``hernia``), ``label`` (the target's column; absent with
        ``target="all"``), ``split``, and the strata, nullable booleans:

        * ``chest_drain`` from ``drain_labels``, ``NA`` where the image is not annotated
          (all ``NA`` without the file); ``chest_drain_source`` is ``"neatx"`` or
          ``"none"``;
        * ``airspace_opacity``: with ``expert_labels``, the experts' "Airspace opacity"
          (``NA`` where they did not read the image; ``airspace_opacity_source`` is
          ``"google_expert"``), else Consolidation or Infiltration or Pneumonia in the
          NIH labels (``"nih_proxy"``);
        * ``expert_fracture``, ``expert_pneumothorax``, ``expert_airspace_opacity``,
          ``expert_nodule_or_mass`` (all ``NA`` without the file).

    Raises
    ------
    FileNotFoundError
        When a label file, split list, image folder or selected image is missing; the
        message names it, where the data come from and the expected layout.
    ValueError, TypeError
        For a bad argument (named with its value) or a malformed file (named).

    Examples
    --------
    >>> from hstrat.datasets import load_cxr14
    >>> load_cxr14("no/such/folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: The ChestX-ray14 folder not found: no/such/folder
    ...
    """
    split = check_option(split, "split", CXR14_SPLITS)
    target = check_option(target, "target", (*CXR14_FINDINGS, "all"))
    if isinstance(views, str) or not isinstance(views, Sequence) or not views:
        raise TypeError(
            f"views must be a non-empty sequence of 'PA' and/or 'AP', e.g. ('PA',); "
            f"got {describe(views)}."
        )
    view_set = {check_option(v, "views", CXR14_VIEWS) for v in views}
    fraction = check_probability(validation_fraction, "validation_fraction")
    if fraction == 1.0:
        raise ValueError("validation_fraction must be in [0, 1); got 1.0.")
    if split == "val" and fraction == 0.0:
        raise ValueError("split='val' needs validation_fraction > 0; got 0.0.")
    transform = check_transform(transform)
    image_size = None if image_size is None else check_int(image_size, "image_size", minimum=1)
    if drain_labels is not None and not isinstance(drain_labels, (str, os.PathLike)):
        raise TypeError(
            f"drain_labels must be one path (str or os.PathLike) or None; "
            f"got {describe(drain_labels)}."
        )
    expert_paths = None if expert_labels is None else _as_paths(expert_labels, "expert_labels")

    base = Path(root)
    if not base.is_dir():
        raise _missing("The ChestX-ray14 folder", base)
    entry_path = next((base / n for n in DATA_ENTRY_FILES if (base / n).is_file()), None)
    if entry_path is None:
        raise _missing(
            "The ChestX-ray14 label file (Data_Entry_2017_v2020.csv or Data_Entry_2017.csv)",
            base / DATA_ENTRY_FILES[0],
        )
    columns = ["Finding Labels", "Patient ID", "Patient Age", "Patient Gender", "View Position"]
    entries = _read_table(entry_path, columns, f"the Data_Entry file of ChestX-ray14 ({NIH_URL})")
    list_name = "test" if split == "test" else "train_val"
    list_path = base / SPLIT_FILES[list_name]
    if not list_path.is_file():
        raise _missing(f"The ChestX-ray14 split list {SPLIT_FILES[list_name]}", list_path)
    with open(list_path, encoding="utf-8") as handle:
        names = [line.strip() for line in handle if line.strip()]
    _refuse_repeats(names, str(list_path))
    known = set(entries["Image Index"])
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"{list_path} lists {len(unknown)} image(s) absent from "
            f"{entry_path.name}, e.g. {unknown[:3]!r}."
        )
    table = entries.set_index("Image Index", drop=False).loc[names].reset_index(drop=True)
    if split in ("train", "val"):
        held_out = _patient_validation(table["Patient ID"], fraction, random_state)
        in_val = table["Patient ID"].isin(held_out)
        table = table.loc[in_val if split == "val" else ~in_val].reset_index(drop=True)
    table = table.loc[table["View Position"].isin(view_set)].reset_index(drop=True)

    images = _image_index(base)
    absent = [n for n in table["Image Index"] if n not in images]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} image(s) of split={split!r} are missing under {base}, "
            f"e.g. {absent[:3]!r} (first expected at {base / 'images' / absent[0]}).\n"
            f"Download and extract every images_0NN archive from {NIH_URL}.\n{LAYOUT}"
        )

    flags = _finding_flags(table["Finding Labels"], entry_path)
    meta = pd.DataFrame(
        {
            "id": table["Image Index"].astype(str),
            "path": [images[n] for n in table["Image Index"]],
            "patient_id": table["Patient ID"],
            "follow_up": table.get("Follow-up #", pd.NA),
            "view": table["View Position"].astype(str),
            "age": _parse_age(table["Patient Age"]),
            "sex": table["Patient Gender"].astype(str),
            "finding_labels": table["Finding Labels"].astype(str),
        }
    )
    meta = pd.concat([meta, flags], axis=1)
    labels = flags.to_numpy() if target == "all" else flags[_column_name(target)].to_numpy()
    if target != "all":
        meta["label"] = labels
    meta["split"] = split
    drains = None if drain_labels is None else _read_drains(Path(drain_labels))
    meta["chest_drain"] = _boolean(
        [pd.NA] * len(meta) if drains is None else drains.reindex(meta["id"]), meta.index
    )
    meta["chest_drain_source"] = "none" if drains is None else "neatx"
    expert_columns = ["expert_" + _column_name(f) for f in EXPERT_FINDINGS]
    if expert_paths is None:
        proxy = flags[[_column_name(f) for f in OPACITY_PROXY]].any(axis=1)
        meta["airspace_opacity"] = _boolean(proxy, meta.index)
        meta["airspace_opacity_source"] = "nih_proxy"
        expert = pd.DataFrame(index=meta.index, columns=expert_columns)  # all NA
    else:
        expert = _read_expert(expert_paths).reindex(meta["id"])
        meta["airspace_opacity"] = _boolean(expert["expert_airspace_opacity"], meta.index)
        meta["airspace_opacity_source"] = "google_expert"
    for column in expert_columns:
        meta[column] = _boolean(expert[column], meta.index)
    return ImageFileDataset(
        meta["path"].tolist(), labels, meta, transform=transform, image_size=image_size
    )
