"""Shared by the labelling-tool tests: tiny PNGs, a schema, a server in a subprocess."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

SCHEMA = {
    "name": "Pneumothorax subclasses",
    "target": "Pneumothorax",
    "description": "Label each chest X-ray",
    "variables": {
        "chest_drain": {
            "values": {"yes": "a drain is visible", "no": "no drain"},
            "applies_to": "positives",
            "description": "Is an intercostal chest drain visible?",
        },
        "opacity": {
            "values": ["none", "mild", "severe"],
            "applies_to": "all",
            "description": "Airspace opacity",
        },
    },
}


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode an 8-bit grayscale array as PNG (no Pillow needed)."""
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].astype(np.uint8).tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def radiograph(seed: int, size: int = 256) -> np.ndarray:
    """A chest-X-ray-like picture: dark lungs in a bright body, ribs, a spine."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    body = np.exp(-((((x - 0.5) / 0.42) ** 2 + ((y - 0.55) / 0.55) ** 2) ** 2))
    lungs = sum(
        np.exp(-((((x - cx) / 0.15) ** 2 + ((y - 0.5) / 0.28) ** 2) ** 1.5)) for cx in (0.32, 0.68)
    )
    curve = y * 9 - 2.5 * (x - 0.5) ** 2 + 0.8 * np.abs(x - 0.5)
    ribs = 0.12 * np.clip(np.sin(2 * np.pi * curve) - 0.4, 0, None) * (lungs > 0.15)
    spine = 0.35 * np.exp(-(((x - 0.5) / 0.04) ** 2))
    image = 0.25 + 0.55 * body - 0.45 * lungs + ribs + spine
    image += 0.04 * rng.normal(size=image.shape)
    if seed % 3 == 0:  # a drain: a bright tube
        image += 0.5 * (np.abs(y - (0.35 + 0.6 * (x - 0.2))) < 0.008) * (x > 0.2) * (x < 0.45)
    return np.clip(image * 255, 0, 255)


def make_items(root: Path, n: int = 6) -> pd.DataFrame:
    """Write n images under root/images and return the items table."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    ids, paths, labels = [], [], []
    for i in range(n):
        name = f"images/{i:05d}_000.png"
        (root / name).write_bytes(png_bytes(radiograph(i)))
        ids.append(f"{i:05d}_000.png")
        paths.append(name)
        labels.append(1 if i % 2 == 0 else 0)
    return pd.DataFrame({"id": ids, "path": paths, "y_true": labels})


def write_setup(root: Path, n: int = 6, *, extra_ids: list[str] | None = None) -> dict[str, Path]:
    """Schema, items CSV and images for a labelling session under root."""
    items = make_items(root, n)
    for k, item_id in enumerate(extra_ids or []):
        name = f"images/extra{k}.png"
        (root / name).write_bytes(png_bytes(radiograph(100 + k)))
        items.loc[len(items)] = [item_id, name, 0]
    schema = root / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    items_csv = root / "items.csv"
    items.to_csv(items_csv, index=False)
    return {"schema": schema, "items": items_csv, "root": root, "out": root / "labels.csv"}


def serve_args(setup: dict[str, Path]) -> list[str]:
    """The ``hstrat label serve`` arguments for a setup made by :func:`write_setup`."""
    return [
        "label",
        "serve",
        "--schema",
        str(setup["schema"]),
        "--items",
        str(setup["items"]),
        "--images-root",
        str(setup["root"]),
        "--out",
        str(setup["out"]),
    ]


class ServerProcess:
    """``python -m hstrat label serve`` in a subprocess; ``url`` once it listens."""

    def __init__(self, setup: dict[str, Path], annotator: str = "dr_a") -> None:
        command = [sys.executable, "-m", "hstrat", *serve_args(setup), "--annotator", annotator]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        lines = []
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                if self.process.poll() is not None:
                    break
                continue
            lines.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if found:
                return found.group(1)
        self.kill()
        raise RuntimeError("the labelling server did not start:\n" + "".join(lines))

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as in a crash or a power cut."""
        if self.process.poll() is None:
            self.process.kill()  # SIGKILL on POSIX
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()
