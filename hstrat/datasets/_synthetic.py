"""Synthetic chest radiographs with a subtle pneumothorax and a chest-drain shortcut.

Each image is drawn procedurally, in vectorized numpy, from a handful of per-case random
parameters; :func:`make_synthetic_cxr` describes what is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._validation import RandomState, check_int, check_probability, check_random_state, describe
from ._images import check_index, check_transform, image_tensor, label_tensor

FloatArray = npt.NDArray[np.float32]
# Pixels drawn at once: small batches keep the temporaries in cache (and off mmap).
_CHUNK_PIXELS = 1 << 15


class SyntheticCXR:
    """Synthetic chest radiographs held in memory, with labels and true subclasses.

    Made by :func:`make_synthetic_cxr`. ``dataset[i]`` is ``(image, label, i)``: a
    ``float32`` tensor ``(1, H, W)`` in [0, 1] (or what ``transform`` returns), a 0-d
    ``float32`` label and the row of :attr:`metadata`. Only items need torch.

    Attributes
    ----------
    images : numpy.ndarray of float32, shape (n_samples, H, W)
        All images, values in [0, 1]; ``image_array(i)`` is a view.
    labels : numpy.ndarray of int64, shape (n_samples,)
        1 for pneumothorax, else 0.
    metadata : pandas.DataFrame
        One row per image (see :func:`make_synthetic_cxr`).
    transform : callable or None
        Applied to the image tensor in ``dataset[i]``.

    Examples
    --------
    >>> from hstrat.datasets import make_synthetic_cxr
    >>> data = make_synthetic_cxr(8, image_size=32, random_state=0)
    >>> data.images.shape, len(data), list(data.metadata.columns[:3])
    ((8, 32, 32), 8, ['id', 'split', 'label'])
    """

    def __init__(
        self,
        images: FloatArray,
        labels: npt.NDArray[np.int64],
        metadata: pd.DataFrame,
        *,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        self.images = images
        self.labels = labels
        self.metadata = metadata
        self.transform = check_transform(transform)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"SyntheticCXR(n={len(self)}, positives={int(self.labels.sum())}, "
            f"image_size={self.images.shape[-1]}, transform={self.transform!r})"
        )

    def image_array(self, index: int) -> FloatArray:
        """Return image ``index`` as a ``float32`` array of shape ``(H, W)`` (a view)."""
        image: FloatArray = self.images[check_index(index, len(self))]
        return image

    def __getitem__(self, index: int) -> tuple[Any, Any, int]:
        position = check_index(index, len(self))
        x = image_tensor(self.images[position])
        if self.transform is not None:
            x = self.transform(x)
        return x, label_tensor(self.labels[position]), position


def make_synthetic_cxr(
    n_samples: int,
    *,
    image_size: int = 64,
    prevalence: float = 0.5,
    drain_rate_pos: float = 0.8,
    drain_rate_neg: float = 0.02,
    opacity_rate: float = 0.2,
    difficulty: float = 0.5,
    noise: float = 0.05,
    split: str = "all",
    transform: Callable[[Any], Any] | None = None,
    random_state: RandomState = None,
) -> SyntheticCXR:
    """Draw chest-radiograph-like images of pneumothorax with a chest-drain shortcut.

    The offline stand-in for ChestX-ray14 pneumothorax (Oakden-Rayner et al., 2020):
    chest anatomy with random pose, exposure and noise, and three findings:

    * **pneumothorax** (the label): an apical-lateral crescent of one lung loses its
      markings and darkens slightly, bounded by a faint visceral pleural line; its size
      and contrast fall with ``difficulty``;
    * **chest drain**: a bright tube entering the lateral chest wall on the side of the
      pneumothorax and curving up towards the apex;
    * **airspace opacity**: a soft bright blob over part of a lung that washes out what
      lies under it, sometimes the pneumothorax.

    Images are drawn eagerly into one ``float32`` array (16 KiB per 64x64 image); a few
    thousand take about a second.

    Parameters
    ----------
    n_samples : int
        Number of images (at least 1).
    image_size : int, default 64
        Height and width in pixels (at least 16). The anatomy scales with it.
    prevalence : float, default 0.5
        Fraction of pneumothorax cases: exactly ``round(prevalence * n_samples)``
        positives, in random order.
    drain_rate_pos, drain_rate_neg : float, default 0.8 and 0.02
        Probability that a positive (negative) case has a chest drain.
    opacity_rate : float, default 0.2
        Probability that a case, positive or negative, has an airspace opacity.
    difficulty : float in [0, 1], default 0.5
        0 draws a large pneumothorax with a clear pleural line; 1 a small one with a
        line barely above the noise.
    noise : float, default 0.05
        Standard deviation of the pixel noise (uniform, independent per pixel; the image
        range is 0-1).
    split : str, default "all"
        Name stored in the ``split`` column and used as the prefix of ``id``.
    transform : callable, optional
        Applied to each ``(1, H, W)`` image tensor in ``dataset[i]`` (for instance
        ``lambda x: x.expand(3, -1, -1)`` for a 3-channel network).
    random_state : int, numpy.random.Generator or None
        Seed. The same seed and arguments give identical images and metadata.

    Returns
    -------
    SyntheticCXR
        Its ``metadata`` has one row per image and the columns:

        - ``id``: ``f"{split}-{i:06d}"``; ``split``: the ``split`` argument;
        - ``label``: 1 for pneumothorax, else 0; ``pneumothorax``: the same;
        - ``chest_drain``, ``airspace_opacity``: bool, whether one is drawn;
        - ``side``: side of the pneumothorax (positives) or of the drain (negatives with
          one), as the patient's ``"right"`` (the image's left) or ``"left"``; ``None``
          otherwise; ``opacity_side``: the same for the opacity;
        - ``ptx_extent``: size of the pneumothorax (its gap at the apex as a fraction of
          the lung's height), 0.0 for negatives.

    Notes
    -----
    Train and test sets with different drain rates (the paper's setting) come from two
    calls with **different seeds** (the same seed repeats the same patients). At
    ``difficulty=0.5`` a small CNN trained for a few epochs with drains in 80% of the
    training positives scores test positives with a drain near AUC 0.99 and those
    without near 0.8: it learns the shortcut, which is not drawn in.

    Examples
    --------
    >>> from hstrat.datasets import make_synthetic_cxr
    >>> ds = make_synthetic_cxr(8, random_state=0)
    >>> ds.images.shape, ds.images.dtype.name
    ((8, 64, 64), 'float32')
    >>> ds.metadata[["id", "label", "chest_drain", "side"]].head(3)
               id  label  chest_drain  side
    0  all-000000      0        False  None
    1  all-000001      0        False  None
    2  all-000002      1        False  left
    >>> image, label, index = ds[2]
    >>> tuple(image.shape), float(label), index
    ((1, 64, 64), 1.0, 2)
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    size = check_int(image_size, "image_size", minimum=16)
    prevalence = check_probability(prevalence, "prevalence")
    drain_rate_pos = check_probability(drain_rate_pos, "drain_rate_pos")
    drain_rate_neg = check_probability(drain_rate_neg, "drain_rate_neg")
    opacity_rate = check_probability(opacity_rate, "opacity_rate")
    difficulty = check_probability(difficulty, "difficulty")
    noise = check_probability(noise, "noise")
    if not isinstance(split, str) or not split:
        raise TypeError(f"split must be a non-empty str; got {describe(split)}.")
    transform = check_transform(transform)
    rng = check_random_state(random_state)

    cases = _draw_cases(
        n_samples, prevalence, drain_rate_pos, drain_rate_neg, opacity_rate, difficulty, rng
    )
    images = np.empty((n_samples, size, size), dtype=np.float32)
    chunk = max(1, _CHUNK_PIXELS // (size * size))
    seeds = rng.integers(0, 2**63 - 1, size=-(-n_samples // chunk))
    for start, seed in zip(range(0, n_samples, chunk), seeds, strict=True):
        part = slice(start, start + chunk)
        batch = {key: value[part] for key, value in cases.items()}
        images[part] = _render(batch, size, noise, np.random.default_rng(seed))
    labels = cases["label"].astype(np.int64)
    return SyntheticCXR(images, labels, _metadata(cases, split), transform=transform)


def _side_name(sign: npt.NDArray[np.float64], present: npt.NDArray[np.bool_]) -> list[str | None]:
    # The image's left is the patient's right (radiographs are viewed facing the patient).
    return [
        ("right" if s < 0 else "left") if p else None for s, p in zip(sign, present, strict=False)
    ]


def _metadata(cases: dict[str, npt.NDArray[Any]], split: str) -> pd.DataFrame:
    label = cases["label"].astype(np.int64)
    drain = cases["drain"].astype(bool)
    opacity = cases["opacity"].astype(bool)
    side_present = label.astype(bool) | drain
    return pd.DataFrame(
        {
            "id": [f"{split}-{i:06d}" for i in range(len(label))],
            "split": split,
            "label": label,
            "pneumothorax": label.copy(),
            "chest_drain": drain,
            "airspace_opacity": opacity,
            "side": pd.Series(_side_name(cases["side"], side_present), dtype=object),
            "opacity_side": pd.Series(_side_name(cases["opacity_side"], opacity), dtype=object),
            "ptx_extent": np.where(label == 1, cases["ptx_depth"], 0.0),
        }
    )


def _draw_cases(
    n: int,
    prevalence: float,
    drain_rate_pos: float,
    drain_rate_neg: float,
    opacity_rate: float,
    difficulty: float,
    rng: np.random.Generator,
) -> dict[str, npt.NDArray[Any]]:
    """Draw every per-case parameter (in a fixed order, so seeds reproduce)."""
    n_pos = round(prevalence * n)
    label = np.zeros(n, dtype=bool)
    label[rng.permutation(n)[:n_pos]] = True
    u = rng.random((n, 3))
    drain = u[:, 0] < np.where(label, drain_rate_pos, drain_rate_neg)
    opacity = u[:, 1] < opacity_rate

    def uniform(low: float, high: float) -> npt.NDArray[np.float64]:
        return rng.uniform(low, high, size=n)

    # Visibility falls linearly with difficulty, calibrated as the docstring's Notes say.
    depth = 0.66 - 0.42 * difficulty  # gap at the apex, as a fraction of the lung height
    line = 0.15 - 0.11 * difficulty  # brightness of the visceral pleural line
    dark = 0.1 - 0.07 * difficulty  # darkening of the airspace without lung markings
    return {
        "label": label,
        "drain": drain,
        "opacity": opacity,
        "side": np.where(rng.random(n) < 0.5, -1.0, 1.0),
        # pose and exposure
        "cx": 0.5 + rng.normal(0.0, 0.025, n),
        "cy": 0.5 + rng.normal(0.0, 0.025, n),
        "scale_x": uniform(0.88, 1.06),
        "scale_y": uniform(0.88, 1.06),
        "contrast": uniform(0.8, 1.2),
        "brightness": rng.normal(0.0, 0.04, n),
        # anatomy
        "lung_w": uniform(0.13, 0.16),
        "lung_h": uniform(0.27, 0.32),
        "lung_gap": uniform(0.18, 0.22),
        "heart_w": uniform(0.12, 0.18),
        "heart_h": uniform(0.1, 0.14),
        "rib_period": uniform(0.065, 0.085),
        "rib_phase": uniform(0.0, 1.0),
        "rib_curve": uniform(0.4, 0.8),
        "markings": uniform(0.06, 0.09),
        # pneumothorax
        "ptx_depth": uniform(0.3, 0.7) * depth,
        "ptx_line": uniform(0.7, 1.0) * line,
        "ptx_dark": uniform(0.7, 1.0) * dark,
        # drain: where it enters, how it curves, where its tip lies
        "drain_entry": uniform(0.05, 0.22),
        "drain_bend": uniform(0.0, 0.12),
        "drain_tip_x": uniform(0.12, 0.26),
        "drain_tip_y": uniform(-0.3, -0.18),
        "drain_value": uniform(0.8, 0.95),
        # airspace opacity
        "opacity_side": np.where(rng.random(n) < 0.5, -1.0, 1.0),
        "opacity_x": uniform(-0.5, 0.5),
        "opacity_y": uniform(-0.6, 0.5),
        "opacity_sx": uniform(0.05, 0.11),
        "opacity_sy": uniform(0.06, 0.13),
        "opacity_alpha": uniform(0.45, 0.8),
    }


def _col(values: npt.NDArray[Any]) -> FloatArray:
    """Shape ``(B,)`` parameters for broadcasting against ``(B, S, S)`` images."""
    return values.astype(np.float32)[:, None, None]


class _Canvas:
    """Patient coordinates of a batch: about -0.5 to 0.5 across, downwards from mid-chest.

    Each image is shifted and scaled, never rotated, so ``x`` ``(B, 1, S)`` and ``y``
    ``(B, S, 1)`` stay separable; full-size results go into preallocated buffers (a
    fresh temporary per operation costs ten times the arithmetic on some allocators).
    """

    def __init__(self, c: dict[str, npt.NDArray[Any]], size: int) -> None:
        grid = (np.arange(size, dtype=np.float32) + 0.5) / np.float32(size)
        self.size = size
        self.px = 1.0 / size  # one pixel in patient units
        self.x = (grid[None, None, :] - _col(c["cx"])) / _col(c["scale_x"])
        self.y = (grid[None, :, None] - _col(c["cy"])) / _col(c["scale_y"])

    def radius2(
        self,
        out: FloatArray,
        cx: Any,
        cy: Any,
        ax: Any,
        ay: Any,
        taper: float = 0.0,
        rows: Any = slice(None),
    ) -> FloatArray:
        """Squared normalized radius of an ellipse (``< 1`` inside; ``taper`` narrows its top)."""
        x, y = self.x[rows], self.y[rows]
        dy = (y - cy) / ay
        if taper:
            width = ax * (1.0 + taper * np.clip(dy, -1.0, 1.0))
            np.subtract(x, cx, out=out)
            out /= width
        else:
            dx = (x - cx) / ax
            np.copyto(out, np.broadcast_to(dx, out.shape))
        out *= out
        out += dy * dy
        return out


def _soft_inside(r2: FloatArray, edge: Any, out: FloatArray) -> FloatArray:
    """Soft indicator of ``r2 < 1``, into ``out``: a linear edge about ``edge`` semi-axes wide."""
    sharpness = 0.5 / edge
    np.multiply(r2, -sharpness, out=out)
    out += sharpness + 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def _ramp(values: FloatArray, width: float) -> FloatArray:
    """``clip(values / width, 0, 1)``: 0 below zero, 1 beyond ``width``."""
    out: FloatArray = np.clip(values / np.float32(width), 0.0, 1.0)
    return out


def _smooth_noise(rng: np.random.Generator, b: int, size: int, cells: int) -> FloatArray:
    """Smooth random texture: ``cells x cells`` noise, bilinearly upsampled to ``size``."""
    coarse = rng.standard_normal((b, cells, cells), dtype=np.float32)
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size * (cells - 1)
    low = np.minimum(grid.astype(np.int64), cells - 2)
    frac = grid - low
    up = np.zeros((size, cells), dtype=np.float32)
    up[np.arange(size), low] = 1.0 - frac
    up[np.arange(size), low + 1] = frac
    texture: FloatArray = np.matmul(np.matmul(up, coarse), up.T)
    return texture


def _render(
    c: dict[str, npt.NDArray[Any]], size: int, noise: float, rng: np.random.Generator
) -> FloatArray:
    """Draw one batch of images from its per-case parameters ``c``."""
    b = len(c["label"])
    cv = _Canvas(c, size)
    x, y, px = cv.x, cv.y, cv.px
    shape = (b, size, size)
    img = np.empty(shape, dtype=np.float32)
    tmp = np.empty(shape, dtype=np.float32)

    # soft tissue of the chest, air outside
    body = _soft_inside(
        cv.radius2(tmp, 0.0, 0.1, 0.46, 0.62), 3 * px / 0.5, np.empty(shape, np.float32)
    )
    np.multiply(body, 0.35, out=img)
    img += 0.05
    # mediastinum and spine: a vertical band in the middle
    np.multiply(body, 0.16 * _ramp(0.075 - np.abs(x), 2 * px), out=tmp)
    img += tmp

    # lungs, narrower at the apex
    lung_w, lung_h, gap = _col(c["lung_w"]), _col(c["lung_h"]), _col(c["lung_gap"])
    r2_lungs = [
        cv.radius2(np.empty(shape, np.float32), sign * gap, -0.04, lung_w, lung_h, taper=0.35)
        for sign in (-1.0, 1.0)
    ]
    lung = _soft_inside(r2_lungs[0], 1.5 * px / lung_w, np.empty(shape, np.float32))
    np.maximum(lung, _soft_inside(r2_lungs[1], 1.5 * px / lung_w, tmp), out=lung)

    # lung markings: a smooth texture plus the hila, inside the lungs only
    markings = _smooth_noise(rng, b, size, max(4, size // 5))
    markings *= _col(c["markings"])
    np.multiply(0.06 * np.exp(-((np.abs(x) - 0.1) ** 2) / 0.006), np.exp(-(y**2) / 0.006), out=tmp)
    markings += tmp
    markings *= lung

    # pneumothorax: the crescent between the lung and its collapsed outline loses its
    # markings and darkens a little; a faint line, the visceral pleura, bounds it
    ptx = np.flatnonzero(c["label"])
    if len(ptx):
        _draw_pneumothorax(img, markings, c, cv, r2_lungs, ptx)
    img -= 0.25 * lung
    img += markings

    # heart shadow, in front of the patient's left lung (the image's right)
    heart_r2 = cv.radius2(tmp, 0.06, 0.14, _col(c["heart_w"]), _col(c["heart_h"]))
    heart = _soft_inside(heart_r2, 2 * px / _col(c["heart_w"]), tmp)
    heart *= 0.18
    img += heart

    # posterior ribs: periodic bands curving down towards the chest wall
    np.subtract(y, _col(c["rib_curve"]) * x * x, out=tmp)
    tmp /= _col(c["rib_period"])
    tmp -= _col(c["rib_phase"])
    tmp *= 2.0 * np.pi
    np.cos(tmp, out=tmp)
    tmp -= 0.3
    np.clip(tmp, 0.0, 1.0, out=tmp)
    tmp *= body
    tmp *= 0.07 * _ramp(0.43 - np.abs(x), 2 * px)
    tmp *= _ramp(0.3 - y, 3 * px) * _ramp(y + 0.4, 3 * px)
    img += tmp

    opacity = np.flatnonzero(c["opacity"])
    if len(opacity):
        _draw_opacity(img, c, cv, lung, opacity)
    drain = np.flatnonzero(c["drain"])
    if len(drain):
        _draw_drain(img, c, size, drain)

    # exposure: noise, then brightness and contrast
    # uniform pixel noise (a quarter of the cost of Gaussian) with standard deviation `noise`
    grain = rng.random(shape, dtype=np.float32)
    grain -= 0.5
    grain *= np.float32(noise * np.sqrt(12.0))
    img += grain
    img -= 0.3
    img *= _col(c["contrast"])
    img += 0.3 + _col(c["brightness"])
    return np.clip(img, 0.0, 1.0, out=img)


def _draw_pneumothorax(
    img: FloatArray,
    markings: FloatArray,
    c: dict[str, npt.NDArray[Any]],
    cv: _Canvas,
    r2_lungs: list[FloatArray],
    idx: npt.NDArray[np.intp],
) -> None:
    px = cv.px
    s = _col(c["side"][idx])
    d = _col(c["ptx_depth"][idx])
    lw, lh, gap = _col(c["lung_w"][idx]), _col(c["lung_h"][idx]), _col(c["lung_gap"][idx])
    r2_lung = np.where(s < 0, r2_lungs[0][idx], r2_lungs[1][idx])
    in_lung = _soft_inside(r2_lung, 1.5 * px / lw, np.empty_like(r2_lung))
    # collapsed lung: keeps the medial and basal edges, retracts from the apex and wall
    cw, ch = lw * (1.0 - 0.4 * d), lh * (1.0 - 0.5 * d)
    ccx = s * gap - s * 0.4 * d * lw
    ccy = -0.04 + 0.5 * d * lh
    r2c = cv.radius2(np.empty_like(r2_lung), ccx, ccy, cw, ch, taper=0.35, rows=idx)
    crescent = _soft_inside(r2c, px / cw, np.empty_like(r2_lung))
    np.subtract(1.0, crescent, out=crescent)
    crescent *= in_lung
    # only the apical and lateral part of the lung: the medial edge stays attached
    lateral = _ramp(s * (cv.x[idx] - s * gap) + 0.4 * lw, 3 * px)
    crescent *= lateral
    markings[idx] *= 1.0 - crescent
    img[idx] -= _col(c["ptx_dark"][idx]) * crescent
    # the line: a thin rim on the collapsed outline, away from the chest wall, upper part
    rim = np.sqrt(r2c, out=r2c)
    rim -= 1.0
    np.abs(rim, out=rim)
    rim *= -0.5 * (cw + ch) / px
    rim += 1.0
    np.clip(rim, 0.0, 1.0, out=rim)
    rim *= _soft_inside(r2_lung * np.float32(1 / 0.9**2), 1.5 * px / lw, in_lung)
    rim *= _ramp(ccy + 0.3 * ch - cv.y[idx], 4 * px) * _col(c["ptx_line"][idx])
    rim *= lateral
    img[idx] += rim


def _draw_opacity(
    img: FloatArray,
    c: dict[str, npt.NDArray[Any]],
    cv: _Canvas,
    lung: FloatArray,
    idx: npt.NDArray[np.intp],
) -> None:
    """Draw an airspace opacity: a soft blob over a lung that washes out what lies under it."""
    s = _col(c["opacity_side"][idx])
    ox = s * _col(c["lung_gap"][idx]) + _col(c["opacity_x"][idx]) * _col(c["lung_w"][idx])
    oy = -0.04 + _col(c["opacity_y"][idx]) * _col(c["lung_h"][idx])
    w = cv.radius2(
        np.empty_like(img[idx]),
        ox,
        oy,
        _col(c["opacity_sx"][idx]),
        _col(c["opacity_sy"][idx]),
        rows=idx,
    )
    w *= -0.5
    np.exp(w, out=w)
    w *= _col(c["opacity_alpha"][idx]) * np.maximum(lung[idx], 0.3)
    img[idx] += w * (0.5 - img[idx])


def _draw_drain(
    img: FloatArray, c: dict[str, npt.NDArray[Any]], size: int, idx: npt.NDArray[np.intp]
) -> None:
    """Draw a chest drain: a bright tube along a cubic Bezier path.

    The path starts outside the chest wall, enters it and curves up to a tip near the apex.
    """
    n = len(idx)
    s = c["side"][idx]
    entry = c["drain_entry"][idx]
    bend = c["drain_bend"][idx]
    points = [  # control points in patient coordinates, shape (n, 2) each
        np.stack([s * 0.56, entry + 0.2], axis=1),
        np.stack([s * (0.42 + bend), entry - 0.02], axis=1),
        np.stack([s * (0.3 + bend), c["drain_tip_y"][idx] - 0.05], axis=1),
        np.stack([s * c["drain_tip_x"][idx], c["drain_tip_y"][idx]], axis=1),
    ]
    t = np.linspace(0.0, 1.0, 4 * size)[None, :, None]
    curve = (
        (1 - t) ** 3 * points[0][:, None]
        + 3 * (1 - t) ** 2 * t * points[1][:, None]
        + 3 * (1 - t) * t**2 * points[2][:, None]
        + t**3 * points[3][:, None]
    )  # (n, k, 2)
    # back to pixels: the inverse of _Canvas's shift and scale
    col = (c["cx"][idx, None] + c["scale_x"][idx, None] * curve[..., 0]) * size - 0.5
    row = (c["cy"][idx, None] + c["scale_y"][idx, None] * curve[..., 1]) * size - 0.5
    radius = max(0.75, 0.014 * size)
    reach = int(np.ceil(radius))
    base_r = np.rint(row).astype(np.int64)
    base_c = np.rint(col).astype(np.int64)
    which = np.broadcast_to(np.arange(n)[:, None], base_r.shape)
    mask = np.zeros((n, size, size), dtype=bool)
    for dr in range(-reach, reach + 1):
        for dc in range(-reach, reach + 1):
            if dr * dr + dc * dc > radius * radius + 0.25:
                continue
            r, cc = base_r + dr, base_c + dc
            ok = (r >= 0) & (r < size) & (cc >= 0) & (cc < size)
            mask[which[ok], r[ok], cc[ok]] = True
    value = c["drain_value"][idx].astype(np.float32)[:, None, None]
    img[idx] = np.where(mask, value, img[idx])
