"""Built-in subclass schemas for the paper's two audits, as plain dicts.

A schema lists, before anyone looks at the model's errors, the clinically meaningful
subclasses an audit reports on (the paper's *schema completion*). The format::

    {
        "name": <a short title>,
        "target": <the label the model predicts>,
        "description": <optional>,
        "variables": {
            <name>: {
                "values": [<allowed values>],
                "description": <what an annotator should look for>,
                "applies_to": "positives" | "negatives" | "all",
                "rule": <optional: how to read the value from metadata>,
            },
        },
    }

``applies_to`` is the population of the strata the variable makes (see
:class:`hstrat.Stratum`): ``"positives"`` compares the label's positives with and
without the subclass against **all** negatives, as the paper does for "pneumothorax
with a chest drain". A ``rule`` of the form ``{"column": c, "pattern": p}`` reads the
value as the first group of the regular expression ``p`` searched in the metadata column
``c``; variables without a rule need labels (from files or annotators).

The variable names match the metadata columns of :func:`~hstrat.datasets.load_cxr14`,
:func:`~hstrat.datasets.make_synthetic_cxr` and :func:`~hstrat.datasets.load_mura`, and
binary variables take the values ``False``/``True``, as those columns do.
"""

from __future__ import annotations

import copy
from typing import Any

from ._mura import MURA_BODY_PARTS

__all__ = ["CXR14_PNEUMOTHORAX_SCHEMA", "MURA_SCHEMA", "cxr14_schema", "mura_schema"]

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
    """Return a fresh copy of the ChestX-ray14 pneumothorax schema.

    Variables: ``chest_drain`` (applies to positives) and ``airspace_opacity`` (applies
    to all), named as the metadata columns of :func:`~hstrat.datasets.load_cxr14` and
    :func:`~hstrat.datasets.make_synthetic_cxr`. See the module docstring for the format.

    Examples
    --------
    >>> from hstrat.datasets import cxr14_schema
    >>> schema = cxr14_schema()
    >>> {k: v["applies_to"] for k, v in schema["variables"].items()}
    {'chest_drain': 'positives', 'airspace_opacity': 'all'}
    """
    return copy.deepcopy(CXR14_PNEUMOTHORAX_SCHEMA)


def mura_schema() -> dict[str, Any]:
    """Return a fresh copy of the MURA abnormality schema.

    Variables: ``fracture``, ``hardware`` and ``degenerative_joint_disease`` (apply to
    positives, labelled by annotators) and ``body_part`` (applies to all, read from the
    image path by its rule). See the module docstring for the format.

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
