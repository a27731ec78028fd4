"""The paper's two subclass schemas, as plain dicts in the format of :class:`hstrat.Schema`.

Their variable names are the metadata columns of the loaders and of
:func:`~hstrat.datasets.make_synthetic_cxr`; binary variables take the values
``False``/``True``, as those columns do.
"""

from __future__ import annotations

import copy
from typing import Any

from ._mura import MURA_BODY_PARTS

#: Pneumothorax on ChestX-ray14 (and the synthetic set). Prefer :func:`cxr14_schema`,
#: which returns a copy that is safe to modify.
CXR14_PNEUMOTHORAX_SCHEMA: dict[str, Any] = {
    "name": "CXR14 pneumothorax",
    "target": "Pneumothorax",
    "description": (
        "Subclasses of pneumothorax on frontal chest radiographs (Oakden-Rayner et al., "
        "2020): a chest drain means the pneumothorax is already treated and is a strong, "
        "easy visual cue; airspace opacity can hide the pleural line."
    ),
    "variables": {
        "chest_drain": {
            "values": [False, True],
            "description": (
                "An intercostal chest drain (tube) is visible. Source: NEATX annotations "
                "(Damgaard et al. 2023) for ChestX-ray14."
            ),
            "applies_to": "positives",
        },
        "airspace_opacity": {
            "values": [False, True],
            "description": (
                "Airspace opacity (consolidation, infiltrate, pneumonia) anywhere in the "
                "lungs. Source: Google expert labels (Majkowska et al. 2020), or the NIH "
                "labels Consolidation | Infiltration | Pneumonia as a proxy."
            ),
            "applies_to": "all",
        },
    },
}

#: Abnormality on MURA v1.1. Prefer :func:`mura_schema`, which returns a copy that is
#: safe to modify.
MURA_SCHEMA: dict[str, Any] = {
    "name": "MURA abnormality",
    "target": "abnormal",
    "description": (
        "Subclasses of abnormal musculoskeletal studies on MURA (Oakden-Rayner et al., "
        "2020): prevalence among abnormal studies was about 0.30 fracture, 0.11 hardware "
        "and 0.43 degenerative joint disease; hardware was easy (AUC 0.98) and "
        "degenerative joint disease hard (0.76)."
    ),
    "variables": {
        "fracture": {
            "values": [False, True],
            "description": "A fracture, acute or healing, is visible.",
            "applies_to": "positives",
        },
        "hardware": {
            "values": [False, True],
            "description": "Orthopaedic hardware (plates, screws, wires, prostheses) is visible.",
            "applies_to": "positives",
        },
        "degenerative_joint_disease": {
            "values": [False, True],
            "description": (
                "Degenerative joint disease: joint-space narrowing, osteophytes, "
                "subchondral sclerosis."
            ),
            "applies_to": "positives",
        },
        "body_part": {
            "values": list(MURA_BODY_PARTS),
            "description": "The body part imaged, from the XR_<BODY PART> folder of the path.",
            "applies_to": "all",
            "rule": {"column": "path", "pattern": r"XR_([A-Z]+)"},
        },
    },
}


def cxr14_schema() -> dict[str, Any]:
    """Return a fresh copy of the ChestX-ray14 pneumothorax schema, for :class:`hstrat.Schema`.

    Examples
    --------
    >>> from hstrat.datasets import cxr14_schema
    >>> schema = cxr14_schema()
    >>> {k: v["applies_to"] for k, v in schema["variables"].items()}
    {'chest_drain': 'positives', 'airspace_opacity': 'all'}
    """
    return copy.deepcopy(CXR14_PNEUMOTHORAX_SCHEMA)


def mura_schema() -> dict[str, Any]:
    """Return a fresh copy of the MURA abnormality schema, for :class:`hstrat.Schema`.

    Examples
    --------
    >>> from hstrat.datasets import mura_schema
    >>> schema = mura_schema()
    >>> list(schema["variables"])
    ['fracture', 'hardware', 'degenerative_joint_disease', 'body_part']
    >>> schema["variables"]["body_part"]["rule"]
    {'column': 'path', 'pattern': 'XR_([A-Z]+)'}
    """
    return copy.deepcopy(MURA_SCHEMA)
