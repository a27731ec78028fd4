"""A local web page for labelling cases with a schema, one image at a time.

``hstrat label serve`` (or :func:`serve_labeler`) starts a small standard-library
server on 127.0.0.1 that shows each listed image with the schema's values as buttons and
keyboard shortcuts, and saves **every answer at once** to the labels CSV
(:mod:`~hstrat.strata._label_store`). Restarting resumes at the first item this annotator
has neither finished nor skipped. Safety (the HTTP side is
:mod:`~hstrat.strata._labeler_http`):

* only the listed items can be fetched, by position (``/image/3``); no file path appears
  in a URL, and nothing else on disk is served;
* the page and its API answer only requests for the server's own host name (against DNS
  rebinding); API calls need a per-run token from the page (against cross-site
  requests); values from the items or schema are inserted as text, never as HTML.
"""

from __future__ import annotations

import os
import posixpath
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._validation import describe
from ._label_store import LabelStore
from ._rules import is_missing
from ._schema import Schema

if TYPE_CHECKING:
    from ._labeler_http import LabelerServer

__all__ = ["LabelStore", "LabelerApp", "load_items", "make_labeler_server", "serve_labeler"]

IMAGE_TYPES: Mapping[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".webp": "image/webp",
}
_BINARY = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def as_binary(value: Any) -> bool | None:
    """Return a 0/1 cell as a bool (``1``, ``true``, ``yes`` in any case; a bool), else None."""
    if isinstance(value, bool):
        return value
    return _BINARY.get(str(value).lower())


@dataclass(frozen=True)
class Item:
    """One case to label: its id, image file and (if known) its binary label."""

    id: str
    path: str
    file: Path
    y_true: bool | None


def load_items(
    items: pd.DataFrame | str | os.PathLike[str],
    images_root: str | os.PathLike[str],
) -> list[Item]:
    """Read and check the list of items to label, listing every problem in one ValueError.

    ``items`` is a table (or CSV) with ``id`` and ``path`` columns, ``path`` relative to
    ``images_root``, and an optional ``y_true`` (0/1) that hides the variables that do not
    apply to a case; other columns (a review sample's ``reason``) are never shown.
    Refused: missing columns, empty or duplicate ids, paths that are absolute or leave the
    root, missing files, types a browser does not show, bad ``y_true`` values.
    """
    root = Path(images_root)
    if not root.is_dir():
        raise ValueError(f"images_root {str(root)!r} is not a folder.")
    if isinstance(items, pd.DataFrame):
        frame = items.astype(object)
    else:
        frame = pd.read_csv(items, dtype=str, keep_default_na=False)
    missing = [c for c in ("id", "path") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"items needs the columns 'id' and 'path'; missing {missing!r} (columns: "
            f"{list(map(str, frame.columns))!r})."
        )
    problems: list[str] = []
    out: list[Item] = []
    seen: set[str] = set()
    for i, record in enumerate(frame.to_dict("records")):
        item_id = "" if is_missing(record["id"]) else str(record["id"])
        raw = "" if is_missing(record["path"]) else str(record["path"])
        where = f"items row {i + 1}"
        if not item_id:
            problems.append(f"{where} has no id.")
            continue
        if item_id in seen:
            problems.append(f"{where}: id {item_id!r} appears more than once.")
            continue
        seen.add(item_id)
        where += f" (id {item_id!r})"
        rel = raw.replace("\\", "/")
        normal = posixpath.normpath(rel) if rel else ""
        file = root / normal
        y = record.get("y_true")
        y_true = None if is_missing(y) else as_binary(y)
        escapes = normal == ".." or normal.startswith("../")
        if not rel or rel.startswith("/") or re.match(r"^[A-Za-z]:", rel) or escapes:
            problems.append(
                f"{where}: path {raw!r} must be relative to images_root and stay inside it."
            )
        elif file.suffix.lower() not in IMAGE_TYPES:
            problems.append(
                f"{where}: {raw!r} is not an image a browser shows "
                f"({', '.join(IMAGE_TYPES)}); convert it (e.g. DICOM to PNG) first."
            )
        elif not file.is_file():
            problems.append(f"{where}: no file {str(file)!r}.")
        elif y_true is None and not is_missing(y):
            problems.append(f"{where}: y_true must be 0 or 1; got {str(y)!r}.")
        else:
            out.append(Item(item_id, normal, file, y_true))
    if problems:
        more = [f"... and {len(problems) - 20} more"] if len(problems) > 20 else []
        raise ValueError(
            "items has problems:\n" + "\n".join(f"  - {p}" for p in problems[:20] + more)
        )
    if not out:
        raise ValueError("items is empty; there is nothing to label.")
    return out


class LabelerApp:
    """The state behind the page: items, schema, labels file and the page's token."""

    def __init__(self, schema: Schema, items: Sequence[Item], store: LabelStore) -> None:
        self.schema = schema
        self.items = list(items)
        self.store = store
        self.token = secrets.token_hex(16)

    def applicable(self, item: Item) -> list[str]:
        """Return the variables to ask about ``item`` (all when its label is unknown)."""
        return [
            name
            for name, var in self.schema.variables.items()
            if item.y_true is None
            or var.applies_to == "all"
            or (var.applies_to == "positives") == item.y_true
        ]

    def _progress(self) -> tuple[dict[str, dict[str, str]], int, int, int]:
        """Return this annotator's rows, the items done, skipped, and the first of the others."""
        rows = self.store.rows()
        done = skipped = 0
        start = len(self.items)
        for index, item in enumerate(self.items):
            row = rows.get(item.id)
            if self._complete(item, row):
                done += 1
            elif row is not None and row.get("skipped") == "true":
                skipped += 1
            else:
                start = min(start, index)
        return rows, done, skipped, start

    def _complete(self, item: Item, row: Mapping[str, str] | None) -> bool:
        return row is not None and all(row.get(v) for v in self.applicable(item))

    def state(self) -> dict[str, Any]:
        """Return what the page needs to start."""
        _, done, skipped, start = self._progress()
        variables = [
            {
                "name": name,
                "description": var.description,
                "values": [
                    {"value": str(v), "description": var.value_descriptions.get(str(v), "")}
                    for v in var.values
                ],
            }
            for name, var in self.schema.variables.items()
        ]
        return {
            "schema": {
                "name": self.schema.name,
                "target": self.schema.target,
                "description": self.schema.description,
                "variables": variables,
            },
            "annotator": self.store.annotator,
            "total": len(self.items),
            "start": start,
            "done": done,
            "skipped": skipped,
        }

    def item_state(self, index: int) -> dict[str, Any]:
        """One item as the page shows it."""
        item = self.items[index]
        rows, done, skipped, _ = self._progress()
        row = rows.get(item.id, {})
        variables = self.applicable(item)
        return {
            "index": index,
            "id": item.id,
            "image": f"/image/{index}",
            "variables": variables,
            "answers": {v: row.get(v, "") for v in variables},
            "skipped": row.get("skipped") == "true",
            "complete": self._complete(item, row or None),
            "total": len(self.items),
            "done": done,
            "skipped_count": skipped,
        }

    def image(self, index: int) -> tuple[bytes, str]:
        """Return the item's image file and content type (OSError if it cannot be read)."""
        file = self.items[index].file
        return file.read_bytes(), IMAGE_TYPES[file.suffix.lower()]

    def _index(self, payload: Mapping[str, Any]) -> int:
        """Return the item index the page sent, checked."""
        value = payload.get("index")
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 0 <= value < len(self.items)
        ):
            raise ValueError(
                f"index must be an item number in [0, {len(self.items)}); got {describe(value)}."
            )
        return value

    def answer(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Record ``{"index", "variable", "value"}`` and return the item's new state."""
        index = self._index(payload)
        variable, value = payload.get("variable"), payload.get("value")
        if not isinstance(variable, str) or not isinstance(value, str):
            raise ValueError("variable and value must be strings.")
        if variable not in self.applicable(self.items[index]):
            raise ValueError(
                f"variable {describe(variable)} does not apply to item {self.items[index].id!r}."
            )
        self.store.answer(self.items[index].id, variable, value)
        return self.item_state(index)

    def skip(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Mark ``{"index"}`` skipped and return its new state."""
        index = self._index(payload)
        self.store.skip(self.items[index].id)
        return self.item_state(index)


def make_labeler_server(
    schema: Schema,
    items: pd.DataFrame | str | os.PathLike[str],
    images_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    annotator: str,
    host: str = "127.0.0.1",
    port: int = 0,
) -> LabelerServer:
    r"""Build (but do not start) the labelling server; see :func:`serve_labeler`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from hstrat import Schema
    >>> from hstrat.strata import make_labeler_server
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    >>> schema = Schema.from_dict({"variables": {"drain": {"values": ["yes", "no"]}}})
    >>> import pandas as pd
    >>> server = make_labeler_server(schema, pd.DataFrame({"id": ["a"], "path": ["a.png"]}),
    ...                              root, root / "labels.csv", annotator="ann")
    >>> server.url.startswith("http://127.0.0.1:")
    True
    >>> server.server_close()
    """
    if not isinstance(schema, Schema):
        raise TypeError(f"schema must be an hstrat Schema; got {type(schema).__name__}.")
    app = LabelerApp(
        schema, load_items(items, images_root), LabelStore(out, schema, annotator=annotator)
    )
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in [0, 65535]; got {describe(port)}.")
    from ._labeler_http import LabelerServer

    return LabelerServer(app, host=host, port=port)


def serve_labeler(
    schema: Schema,
    items: pd.DataFrame | str | os.PathLike[str],
    images_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    annotator: str,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[LabelerServer], None] | None = None,
) -> None:
    """Serve the labelling page until interrupted (Ctrl+C).

    Parameters
    ----------
    schema : Schema
        The variables to label; each item is asked the ones that apply to it.
    items : pandas.DataFrame or path-like
        ``id`` and ``path`` columns, and an optional 0/1 ``y_true`` (see
        :func:`~hstrat.strata._labeler.load_items`).
    images_root : path-like
        Folder the item paths are relative to.
    out : path-like
        The labels CSV: created, or resumed when it exists.
    annotator : str
        Recorded with every answer; resuming continues this annotator's work.
    host : str, default "127.0.0.1"
        Interface to listen on. Anything but a loopback address exposes the labels to
        the network.
    port : int, default 0
        0 picks a free port.
    on_ready : callable, optional
        Called with the server once it listens (the CLI prints the address).

    Notes
    -----
    Keys: ``1``-``9`` answer, ``↑``/``↓`` choose the question, ``←``/Backspace back,
    ``→`` forward, ``s`` skip (as the labelling tutorial shows).

    Examples
    --------
    >>> from hstrat import Schema
    >>> from hstrat.strata import serve_labeler
    >>> schema = Schema.from_file("pneumothorax.toml")  # doctest: +SKIP
    >>> serve_labeler(schema, "items.csv", "/data/cxr14/images", "labels.csv",
    ...               annotator="ann")  # doctest: +SKIP
    """
    server = make_labeler_server(
        schema, items, images_root, out, annotator=annotator, host=host, port=port
    )
    try:
        if on_ready is not None:
            on_ready(server)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
