"""Datasets for auditing hidden stratification: synthetic chest X-rays, CXR14 and MURA.

Every dataset yields ``(image, label, index)``, ``index`` being the item's row of
``dataset.metadata``, and works with a default :class:`torch.utils.data.DataLoader`;
torch is imported only when an item is requested. Real data are never downloaded: a
missing file raises a :class:`FileNotFoundError` that says where to get it.
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
