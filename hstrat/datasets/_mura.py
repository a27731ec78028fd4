"""MURA v1.1 musculoskeletal radiographs from a local copy, and study-level scores.

MURA (Rajpurkar et al., 2018) is labelled per **study** (normal/abnormal), each study
holding one or more images. Nothing is downloaded; the dataset comes from
https://stanfordmlgroup.github.io/competitions/mura/
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._align import Cases
from .._validation import check_int, check_option, check_scores, describe
from ._images import ImageFileDataset, check_transform

MURA_URL = "https://stanfordmlgroup.github.io/competitions/mura/"
MURA_SPLITS: tuple[str, ...] = ("train", "valid")
#: The seven body parts, as in the ``XR_<BODY PART>`` folder names.
MURA_BODY_PARTS: tuple[str, ...] = (
    "ELBOW",
    "FINGER",
    "FOREARM",
    "HAND",
    "HUMERUS",
    "SHOULDER",
    "WRIST",
)
AGGREGATIONS: tuple[str, ...] = ("mean", "max")
_PATH = re.compile(
    r"^(?P<top>[^/]+)/(?P<split>train|valid)/XR_(?P<body_part>[A-Z]+)/"
    r"(?P<patient>patient\d+)/(?P<study>study\d+_(?:positive|negative))/"
    r"(?P<image>[^/]+\.png)$"
)

LAYOUT = f"""\
Expected layout (MURA v1.1, from {MURA_URL}):
    <root>/MURA-v1.1/                      (root may also be MURA-v1.1 itself)
        train_image_paths.csv             one image path per line, no header
        train_labeled_studies.csv         <study folder>/,<0|1> per line, no header
        valid_image_paths.csv
        valid_labeled_studies.csv
        train/XR_WRIST/patient00001/study1_positive/image1.png ...
        valid/XR_WRIST/patient11185/study1_positive/image1.png ...
Nothing is downloaded by hstrat."""


def _data_dir(root: Path) -> Path:
    """Return the folder holding the CSVs: ``root/MURA-v1.1`` or ``root`` itself."""
    nested = root / "MURA-v1.1"
    if nested.is_dir():
        return nested
    if any((root / f"{s}_image_paths.csv").is_file() for s in MURA_SPLITS):
        return root
    if not root.is_dir():
        raise FileNotFoundError(f"The MURA folder not found: {root}\n{LAYOUT}")
    raise FileNotFoundError(
        f"The MURA folder MURA-v1.1 not found in {root} (and {root} holds no "
        f"*_image_paths.csv).\n{LAYOUT}"
    )


def _read_lines(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"The MURA {what} not found: {path}\n{LAYOUT}")
    with open(path, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def _read_studies(path: Path) -> dict[str, int]:
    """``<study dir>/,<0|1>`` lines as ``{study dir without the slash: label}``."""
    out: dict[str, int] = {}
    for number, line in enumerate(_read_lines(path, "study label file"), start=1):
        study, sep, value = line.rpartition(",")
        if not sep or value.strip() not in ("0", "1"):
            raise ValueError(
                f"{path}, line {number}: expected '<study folder>/,<0|1>'; got {line!r}."
            )
        key = study.strip().rstrip("/")
        if key in out:
            raise ValueError(f"{path}, line {number}: the study {key!r} is listed twice.")
        out[key] = int(value)
    return out


def load_mura(
    root: str | os.PathLike[str],
    *,
    split: str = "valid",
    transform: Callable[[Any], Any] | None = None,
    image_size: int | None = None,
) -> ImageFileDataset:
    """Load MURA v1.1 from a local copy: one item per image, labelled by its study.

    Checks that every image exists and that each study's label agrees with its folder
    name (``study1_positive`` ↔ 1); images are read lazily. Nothing is downloaded.

    Parameters
    ----------
    root : str or path-like
        The folder that contains ``MURA-v1.1``, or ``MURA-v1.1`` itself (it may be
        renamed: the first component of the paths in the CSVs is replaced by it).
    split : {"train", "valid"}, default "valid"
        MURA's own split; no patient is in both.
    transform, image_size : optional
        As for :class:`ImageFileDataset`. MURA images differ in size: batching them needs
        ``image_size`` or a transform that resizes.

    Returns
    -------
    ImageFileDataset
        Items ``(image, label, index)``; ``dataset.metadata`` has one row per image with
        the columns ``id`` (the path in the CSV), ``path`` (on disk), ``split``,
        ``body_part`` (``"ELBOW"`` ... ``"WRIST"``), ``patient``, ``study`` (the study
        folder below ``MURA-v1.1``, e.g. ``"valid/XR_WRIST/patient11185/study1_positive"``),
        ``label`` (the study's, 1 = abnormal) and ``image`` (``"image1.png"``);
        :func:`aggregate_to_study` gives study-level scores.

    Raises
    ------
    FileNotFoundError
        When the folder, a CSV or an image is missing (the message names it and the
        expected layout).
    ValueError
        When a path does not follow the MURA layout, a study has no label, or a study's
        label disagrees with its folder name (the message names the study).

    Examples
    --------
    >>> from hstrat.datasets import load_mura
    >>> load_mura("no/such/folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: The MURA folder not found: no/such/folder
    ...
    """
    split = check_option(split, "split", MURA_SPLITS)
    transform = check_transform(transform)
    image_size = None if image_size is None else check_int(image_size, "image_size", minimum=1)
    data = _data_dir(Path(root))
    paths_csv = data / f"{split}_image_paths.csv"
    studies_csv = data / f"{split}_labeled_studies.csv"
    lines = _read_lines(paths_csv, "image list")
    studies = _read_studies(studies_csv)
    # the study keys keep their leading "MURA-v1.1/"; compare without it
    study_labels = {key.partition("/")[2]: value for key, value in studies.items()}
    for study, label in study_labels.items():
        expected = 0 if study.endswith("_negative") else 1 if study.endswith("_positive") else None
        if expected is not None and label != expected:
            raise ValueError(
                f"The study {study!r} is labelled {label} in {studies_csv} but its folder "
                f"name ends in {study.rpartition('_')[2]!r} ({expected})."
            )

    rows = []
    for number, line in enumerate(lines, start=1):
        posix = line.replace("\\", "/")
        match = _PATH.match(posix)
        if match is None:
            raise ValueError(
                f"{paths_csv}, line {number}: {line!r} does not follow the MURA layout "
                "MURA-v1.1/<split>/XR_<BODY PART>/patient<N>/study<k>_<positive|negative>/"
                "image<j>.png."
            )
        parts = match.groupdict()
        if parts["split"] != split:
            raise ValueError(
                f"{paths_csv}, line {number}: {line!r} belongs to the {parts['split']!r} "
                f"split, not {split!r}."
            )
        if parts["body_part"] not in MURA_BODY_PARTS:
            raise ValueError(
                f"{paths_csv}, line {number}: unknown body part XR_{parts['body_part']}; "
                f"expected one of {', '.join('XR_' + b for b in MURA_BODY_PARTS)}."
            )
        study = f"{split}/XR_{parts['body_part']}/{parts['patient']}/{parts['study']}"
        if study not in study_labels:
            raise ValueError(f"The study {study!r} of {line!r} has no label in {studies_csv}.")
        rows.append(
            {
                "id": line,
                "path": os.fspath(data / posix.partition("/")[2]),
                "split": split,
                "body_part": parts["body_part"],
                "patient": parts["patient"],
                "study": study,
                "label": study_labels[study],
                "image": parts["image"],
            }
        )
    meta = pd.DataFrame(
        rows, columns=["id", "path", "split", "body_part", "patient", "study", "label", "image"]
    )
    meta["label"] = meta["label"].astype(np.int64)
    absent = [p for p in meta["path"] if not os.path.isfile(p)]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} image(s) listed in {paths_csv} are missing, e.g. {absent[0]}\n{LAYOUT}"
        )
    return ImageFileDataset(
        meta["path"].tolist(), meta["label"], meta, transform=transform, image_size=image_size
    )


def aggregate_to_study(
    scores: npt.ArrayLike, metadata: pd.DataFrame, *, how: str = "mean"
) -> pd.DataFrame:
    """Aggregate image scores to one score per study, for a study-level AUC.

    Parameters
    ----------
    scores : array-like of shape (n_images,)
        One finite score per image, in the order of ``metadata``'s rows.
    metadata : pandas.DataFrame
        One row per image with the columns ``study`` and ``label`` (and, when present,
        ``body_part`` and ``patient``), e.g. ``load_mura(...).metadata``.
    how : {"mean", "max"}, default "mean"
        How a study's image scores are combined.

    Returns
    -------
    pandas.DataFrame
        One row per study, in order of first appearance, with the columns ``study``,
        ``body_part``, ``patient``, ``label``, ``score`` and ``n_images`` (``body_part``
        and ``patient`` are NA when ``metadata`` lacks them).

    Raises
    ------
    ValueError
        When the lengths differ, a score is not finite, or a study has images with
        different labels.

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat.datasets import aggregate_to_study
    >>> meta = pd.DataFrame({"study": ["s1", "s1", "s2"], "label": [1, 1, 0],
    ...                      "body_part": "WRIST", "patient": ["p1", "p1", "p2"]})
    >>> aggregate_to_study([0.2, 0.8, 0.1], meta, how="max")
      study body_part patient  label  score  n_images
    0    s1     WRIST      p1      1    0.8         2
    1    s2     WRIST      p2      0    0.1         1
    """
    how = check_option(how, "how", AGGREGATIONS)
    if not isinstance(metadata, pd.DataFrame):
        raise TypeError(f"metadata must be a pandas DataFrame; got {describe(metadata)}.")
    absent = [c for c in ("study", "label") if c not in metadata.columns]
    if absent:
        raise ValueError(
            f"metadata must have the columns 'study' and 'label'; it lacks {absent!r}."
        )
    values = check_scores(Cases.of(metadata, name="metadata").align(scores, "scores"), "scores")
    frame = pd.DataFrame(
        {
            "study": metadata["study"].to_numpy(),
            "body_part": metadata["body_part"].to_numpy() if "body_part" in metadata else pd.NA,
            "patient": metadata["patient"].to_numpy() if "patient" in metadata else pd.NA,
            "label": metadata["label"].to_numpy(),
            "score": values,
        }
    )
    if frame["study"].isna().any():
        row = int(np.flatnonzero(frame["study"].isna().to_numpy())[0])
        raise ValueError(f"metadata['study'] is missing at row {row}.")
    grouped = frame.groupby("study", sort=False, dropna=False)
    mixed = grouped["label"].nunique(dropna=False)
    if (mixed > 1).any():
        raise ValueError(
            f"The study {mixed.index[mixed > 1][0]!r} has images with different labels; "
            "a study-level label must be the same for all its images."
        )
    return grouped.agg(
        body_part=("body_part", "first"),
        patient=("patient", "first"),
        label=("label", "first"),
        score=("score", how),
        n_images=("score", "size"),
    ).reset_index()
