"""Datasets for auditing hidden stratification: a synthetic default and two real ones.

* :func:`make_synthetic_cxr` — procedurally drawn chest radiographs where pneumothorax
  is a subtle sign and most positives carry an easy chest drain; works offline, in
  seconds, and a model trained on it learns the drain shortcut.
* :func:`load_cxr14` — NIH ChestX-ray14 from a local copy, with chest-drain (NEATX) and
  airspace-opacity (Google expert labels, or an NIH proxy) strata.
* :func:`load_mura` — MURA v1.1 from a local copy; :func:`aggregate_to_study` turns
  image scores into study scores.
* :func:`cxr14_schema`, :func:`mura_schema` — the paper's subclass schemas.

Every dataset yields ``(image, label, index)``: a ``float32`` tensor of shape
``(1, H, W)`` in [0, 1], a 0-d ``float32`` tensor 0.0/1.0 (with
``load_cxr14(target="all")``, a multi-hot vector of the 14 findings) and the int row of
``dataset.metadata``, which holds one row per image with the true or annotated
subclasses. The datasets work with a default :class:`torch.utils.data.DataLoader`;
torch is imported only when an item is requested, so ``import hstrat.datasets`` stays
light. Real data are never downloaded: a missing file raises a
:class:`FileNotFoundError` that says where to get it and how to lay it out.
"""

from ._cxr14 import CXR14_FINDINGS, load_cxr14
from ._images import ImageFileDataset
from ._mura import MURA_BODY_PARTS, aggregate_to_study, load_mura
from ._schemas import CXR14_PNEUMOTHORAX_SCHEMA, MURA_SCHEMA, cxr14_schema, mura_schema
from ._synthetic import SyntheticCXR, make_synthetic_cxr

__all__ = [
    "CXR14_FINDINGS",
    "CXR14_PNEUMOTHORAX_SCHEMA",
    "MURA_BODY_PARTS",
    "MURA_SCHEMA",
    "ImageFileDataset",
    "SyntheticCXR",
    "aggregate_to_study",
    "cxr14_schema",
    "load_cxr14",
    "load_mura",
    "make_synthetic_cxr",
    "mura_schema",
]
