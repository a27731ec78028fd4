"""Shared by the labelling-tool tests: tiny PNGs, a schema, servers and clients."""

from __future__ import annotations

import csv
import http.client
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a labels CSV as dicts of text."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


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


@contextmanager
def serving(server: Any) -> Iterator[Any]:
    """Run a server made by ``make_labeler_server`` in a thread; stop and close it after."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Client:
    """Requests to a labelling server, with its page's token."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.host, self.port = server.server_address[:2]
        page = self.raw("GET", "/")[2].decode()
        found = re.search(r'name="hstrat-token" content="([0-9a-f]+)"', page)
        assert found is not None
        self.token = found.group(1)

    def raw(self, method, path, body=None, headers=None, host=None):
        """One request on a new connection; returns status, headers and body."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        connection.putrequest(method, path, skip_host=True)
        connection.putheader("Host", host or f"127.0.0.1:{self.port}")
        for key, value in (headers or {}).items():
            connection.putheader(key, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, dict(response.getheaders()), data

    def api(self, path, payload=None, token=None):
        """GET (or POST ``payload`` as JSON) an API path; returns status and JSON reply."""
        headers = {"X-Hstrat-Token": self.token if token is None else token}
        body = None
        method = "GET"
        if payload is not None:
            method = "POST"
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload).encode()
        status, _, data = self.raw(method, path, body, headers)
        return status, json.loads(data)


# -- several processes writing one labels file ---------------------------------------------
def expected_value(variable: str, k: int) -> str:
    """The answer the stress test's processes give for case ``k``."""
    return ["none", "mild", "severe"][k % 3] if variable == "opacity" else ["yes", "no"][k % 2]


def hammer(path: str, process: int, n: int, start: Any) -> None:
    """One process of the stress test: ``n`` answers to one labels file.

    Processes 0 and 2 write annotator ``ann0``'s rows, 1 and 3 ``ann1``'s; 0 and 1 answer
    ``opacity``, 2 and 3 ``chest_drain``: two processes change the same rows at once.
    """
    from hstrat import Schema
    from hstrat.strata._label_store import LabelStore

    store = LabelStore(path, Schema.from_dict(SCHEMA), annotator=f"ann{process % 2}")
    variable = "opacity" if process < 2 else "chest_drain"
    start.wait()
    for k in range(n):
        store.answer(f"case{k:02d}", variable, expected_value(variable, k))


KEEP_WRITING = """
import json, sys
from hstrat import Schema
from hstrat.strata._label_store import LabelStore
store = LabelStore(sys.argv[1], Schema.from_dict(json.loads(sys.argv[3])), annotator="dr_a")
for k in range(int(sys.argv[2]), 10**6):
    store.answer(f"case{k:05d}", "opacity", ["none", "mild", "severe"][k % 3])
    print(k, flush=True)  # acknowledged
"""
