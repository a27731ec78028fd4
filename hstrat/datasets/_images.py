"""Reading radiographs from disk, and the image data sets' shared item rules.

Building a data set imports neither torch nor Pillow: torch is imported when an item is
requested and Pillow when an image is read, and a missing one raises an ImportError naming
the ``hstrat-audit[torch]`` extra. Items are described in :mod:`hstrat.datasets`.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._validation import check_int, describe
from ..adapters import require_torch

if TYPE_CHECKING:
    from PIL import Image as PILImage


Transform = Callable[[Any], Any]


def require_pil() -> Any:
    """Import and return :mod:`PIL.Image`, or raise an ImportError naming the extra."""
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - Pillow comes with matplotlib
        raise ImportError(
            "Reading radiographs needs Pillow; install it with pip install 'hstrat-audit[torch]' "
            "(or pip install pillow)."
        ) from err
    return Image


def check_transform(transform: Any, name: str = "transform") -> Transform | None:
    """Check an optional callable."""
    if transform is not None and not callable(transform):
        raise TypeError(f"{name} must be a callable or None; got {describe(transform)}.")
    return cast("Transform | None", transform)


def check_index(index: Any, length: int) -> int:
    """Return ``index`` as a non-negative position, Python style (negative from the end)."""
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(
            f"index must be an integer; got {describe(index)} of type {type(index).__name__}."
        )
    position = int(index)
    if position < 0:
        position += length
    if not 0 <= position < length:
        raise IndexError(f"index {int(index)} is out of range for a dataset of {length} items.")
    return position


def to_grayscale_8bit(image: PILImage.Image) -> PILImage.Image:
    """Return ``image`` as an 8-bit grayscale (mode ``"L"``) Pillow image.

    Colour modes keep their **first** channel (ChestX-ray14's few colour PNGs hold the
    radiograph in every channel). 16- and 32-bit integer images map the 16-bit range to
    8 bits, ``round(v / 257)`` clipped (Pillow's ``convert("L")`` would clip every value
    above 255 to white); float images are taken as in [0, 1] when their maximum is at
    most 1, else as 8-bit values. Palette and bilevel images go through ``convert("L")``.
    """
    pil = require_pil()
    if image.mode == "L":
        return image
    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if image.mode != "F":
            values = values / 257.0
        elif values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        values = np.clip(np.rint(np.nan_to_num(values, nan=0.0)), 0, 255)
        return cast("PILImage.Image", pil.fromarray(values.astype(np.uint8)))
    if len(image.getbands()) > 1 and image.mode != "P":
        return image.getchannel(0)
    return image.convert("L")


# Without torch, the numpy accessors (dataset.images, dataset.image_array(i)) still work.
_TENSORS = "An image data set's tensors (without torch: dataset.image_array(i))"


def image_tensor(array: npt.NDArray[np.float32]) -> Any:
    """Return a ``float32`` tensor of shape ``(1, H, W)`` that owns a copy of ``array``."""
    torch = require_torch(_TENSORS)
    return torch.from_numpy(np.array(array, dtype=np.float32, copy=True)[None])


def label_tensor(label: Any) -> Any:
    """Return a label as a ``float32`` tensor: 0-d, or 1-d for a multi-hot row."""
    torch = require_torch(_TENSORS)
    return torch.tensor(np.asarray(label, dtype=np.float32))


class ImageFileDataset:
    """Radiographs read from files on demand, with their labels and metadata.

    Returned by :func:`~hstrat.datasets.load_cxr14` and :func:`~hstrat.datasets.load_mura`,
    or built from a list of files. ``dataset[i]`` is ``(image, label, i)``: the image as
    ``transform`` makes it, the label as a ``float32`` tensor (0-d, or the multi-hot row)
    and the item's row of ``metadata``. Building it needs neither torch nor Pillow.

    Parameters
    ----------
    paths : sequence of str or path-like
        One image file per item.
    labels : array-like of 0/1, shape (n_items,) or (n_items, n_findings)
        The binary label of each item, or a multi-hot row of labels per item.
    metadata : pandas.DataFrame
        One row per item, in the same order (its index is reset to ``0..n-1``).
    transform : callable, optional
        Applied to the 8-bit grayscale Pillow image (resized) **instead of** the default
        conversion, a ``float32`` tensor of shape ``(1, H, W)`` in [0, 1].
    image_size : int, optional
        Resize every image to ``image_size x image_size`` (bilinear) before the transform.

    Attributes
    ----------
    paths : list of str
    labels : numpy.ndarray of int64
    metadata : pandas.DataFrame

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat.datasets import ImageFileDataset
    >>> ds = ImageFileDataset(["a.png", "b.png"], [0, 1], pd.DataFrame({"id": ["a", "b"]}))
    >>> len(ds), ds.labels.tolist()
    (2, [0, 1])
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        labels: npt.ArrayLike,
        metadata: pd.DataFrame,
        *,
        transform: Transform | None = None,
        image_size: int | None = None,
    ) -> None:
        self.paths: list[str] = [os.fspath(p) for p in paths]
        label_array = np.asarray(labels)
        if label_array.ndim not in (1, 2) or len(label_array) != len(self.paths):
            raise ValueError(
                f"labels must be 1-D or 2-D with one entry (row) per path ({len(self.paths)}); "
                f"got shape {label_array.shape}."
            )
        if label_array.size and not np.isin(label_array, (0, 1)).all():
            raise ValueError("labels must contain only 0 and 1.")
        self.labels: npt.NDArray[np.int64] = label_array.astype(np.int64)
        if not isinstance(metadata, pd.DataFrame):
            raise TypeError(f"metadata must be a pandas DataFrame; got {describe(metadata)}.")
        if len(metadata) != len(self.paths):
            raise ValueError(
                f"metadata must have one row per path ({len(self.paths)}); got {len(metadata)}."
            )
        self.metadata: pd.DataFrame = metadata.reset_index(drop=True)
        self.transform = check_transform(transform)
        self.image_size = (
            None if image_size is None else check_int(image_size, "image_size", minimum=1)
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={len(self)}, positives={int(self.labels.sum())}, "
            f"image_size={self.image_size!r}, transform={self.transform!r})"
        )

    def image(self, index: int) -> PILImage.Image:
        """Return item ``index`` as an 8-bit grayscale Pillow image, resized if asked."""
        pil, path = require_pil(), self.paths[check_index(index, len(self))]
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Image file not found: {path}")
        try:
            with pil.open(path) as opened:
                opened.load()
                image = to_grayscale_8bit(opened)
        except OSError as err:
            raise OSError(f"Cannot read the image {path}: {err}") from err
        size = self.image_size
        if size is None or image.size == (size, size):
            return image
        return image.resize((size, size), resample=pil.Resampling.BILINEAR)

    def image_array(self, index: int) -> npt.NDArray[np.float32]:
        """Return item ``index`` as a ``float32`` array of shape ``(H, W)`` in [0, 1].

        Needs Pillow but not torch; ignores ``transform``.
        """
        return np.asarray(self.image(index), dtype=np.float32) / np.float32(255.0)

    def __getitem__(self, index: int) -> tuple[Any, Any, int]:
        position = check_index(index, len(self))
        if self.transform is None:
            x = image_tensor(self.image_array(position))
        else:
            x = self.transform(self.image(position))
        return x, label_tensor(self.labels[position]), position
