"""The labels file of the labelling page, shared safely by any number of writers.

The file stays a plain CSV for :func:`~hstrat.strata.read_labels`, spreadsheets and
other tools: columns ``id, <variables...>, annotator, labelled_at, skipped``, one row per
item and annotator. Servers, tabs and processes may write it at once, each answer by
**lock, re-read, change one cell, replace**: take an exclusive ``flock`` on the sidecar
``.<name>.lock`` (not on the CSV, which every write replaces), read the file as it is
now, change one variable (or ``skipped``) and ``labelled_at`` of this annotator's row for
the item, write the table to a temporary file and rename it over the old one; only then
is the answer acknowledged. So every writer starts from a file holding every acknowledged
answer; other annotators' rows are never touched; of two tabs answering one question the
later wins, reverting no other cell; a hand edit between answers is kept. A kill -9
leaves the old file or the new one, whole, and no stale lock (the kernel drops a dead
process's locks). An append-only journal would need no lock but would not be a plain
table, and would grow with every click; re-reading costs milliseconds. Limits: the lock
is advisory, and ``flock`` may not lock across machines on some network file systems.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .._io import atomic_write_text
from .._validation import describe
from ..exceptions import SchemaError
from ._schema import RESERVED_COLUMNS, Schema

if sys.platform == "win32":  # pragma: no cover - tested on POSIX only
    import msvcrt
else:
    import fcntl

__all__ = ["LabelStore"]

_Rows = dict[tuple[str, str], dict[str, str]]  # (id, annotator) -> row


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed, never through a link)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        if sys.platform == "win32":  # pragma: no cover
            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class LabelStore:
    """One labels CSV, re-read on every use and changed one answer at a time.

    Parameters
    ----------
    path : path-like
        The CSV. An existing file is read and checked (values against the schema,
        columns, one row per id and annotator); a file that does not fit is refused,
        never overwritten.
    schema : Schema
        The variables and their values.
    annotator : str
        Whose answers :meth:`answer` and :meth:`skip` record.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from hstrat import Schema
    >>> from hstrat.strata._label_store import LabelStore
    >>> schema = Schema.from_dict({"variables": {"drain": {"values": ["yes", "no"]}}})
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> store = LabelStore(path, schema, annotator="ann")
    >>> _ = store.answer("case1", "drain", "yes")
    >>> path.read_text().splitlines()[0]
    'id,drain,annotator,labelled_at,skipped'
    """

    def __init__(self, path: str | os.PathLike[str], schema: Schema, *, annotator: str) -> None:
        if not isinstance(annotator, str) or not annotator.strip():
            raise ValueError(f"annotator must be a non-empty name; got {describe(annotator)}.")
        self.path = Path(path)
        self.schema = schema
        self.annotator = annotator
        self.columns = [RESERVED_COLUMNS[0], *schema.variables, *RESERVED_COLUMNS[1:]]
        self._lock = self.path.with_name(f".{self.path.name}.lock")
        self._seen: tuple[tuple[int, int, int] | None, _Rows] = (None, {})
        self._read()  # a file that does not fit is refused now, before anything is served

    def rows(self) -> dict[str, dict[str, str]]:
        """Return this annotator's rows by id, as the file holds them now (copies)."""
        return {i: dict(row) for (i, who), row in self._read().items() if who == self.annotator}

    def answer(self, item_id: str, variable: str, value: str) -> dict[str, str]:
        """Record one answer in the file; returns the item's row."""
        var = self.schema.variables.get(variable)
        if var is None:
            raise ValueError(
                f"variable {describe(variable)} is not in the schema; it has "
                f"{list(self.schema.variables)!r}."
            )
        allowed = var.normalise(value) if isinstance(value, str) else None
        if allowed is None:
            raise ValueError(
                f"value {describe(value)} is not allowed for {variable!r}; the values are "
                f"{list(var.values)!r}."
            )
        return self._update(item_id, {variable: str(allowed), "skipped": "false"})

    def skip(self, item_id: str) -> dict[str, str]:
        """Mark the item skipped by this annotator in the file; returns its row."""
        return self._update(item_id, {"skipped": "true"})

    def _update(self, item_id: str, changes: Mapping[str, str]) -> dict[str, str]:
        with _locked(self._lock):
            rows = dict(self._read(again=True))
            key = (item_id, self.annotator)
            row = {**dict.fromkeys(self.columns, ""), **rows.get(key, {})}
            row.update(id=item_id, annotator=self.annotator, labelled_at=_now(), **changes)
            rows[key] = row
            buffer = io.StringIO(newline="")
            writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows.values())
            atomic_write_text(self.path, buffer.getvalue())
            self._seen = (_stamp(os.stat(self.path)), rows)
        return dict(row)

    def _read(self, *, again: bool = False) -> _Rows:
        """Return the file's rows, read again if it changed since the last read (or ``again``)."""
        try:
            with open(self.path, "rb") as handle:
                stamp = _stamp(os.fstat(handle.fileno()))
                if stamp == self._seen[0] and not again:
                    return self._seen[1]
                data = handle.read()
        except FileNotFoundError:
            stamp, data = None, b""
        rows = self._parse(data)
        self._seen = (stamp, rows)
        return rows

    def _parse(self, data: bytes) -> _Rows:
        where = repr(str(self.path))
        remedy = "It is left untouched: repair it, or choose another --out."
        try:
            text = data.decode("utf-8-sig")
            if "\0" in text:  # what a power cut can leave behind on some file systems
                raise csv.Error("it contains NUL bytes")
            reader = csv.reader(io.StringIO(text, newline=""), strict=True)
            header = next(reader, [])
            records = [(reader.line_num, r) for r in reader if r]
        except (UnicodeDecodeError, csv.Error) as err:
            raise ValueError(f"{where} is damaged: {err}. {remedy}") from None
        if not header:
            return {}
        unknown = [c for c in header if c not in self.columns]
        if unknown or len(set(header)) < len(header) or not {"id", "annotator"} <= set(header):
            raise ValueError(
                f"{where} does not look like labels for this schema (columns "
                f"{describe(header, 200)}; expected {self.columns!r}"
                + (f"; unknown {describe(unknown, 200)}" if unknown else "")
                + f"). {remedy}"
            )
        rows: _Rows = {}
        problems = []
        blank = dict.fromkeys(self.columns, "")
        variables = self.schema.variables
        fits = functools.cache(lambda name, value: variables[name].normalise(value) is not None)
        for line, record in records:
            if len(record) != len(header):
                raise ValueError(
                    f"{where} is damaged: line {line} has {len(record)} fields, the header "
                    f"{len(header)}. {remedy}"
                )
            row = blank | dict(zip(header, record, strict=True))
            key = (row["id"], row["annotator"])
            if not row["id"]:
                problems.append(f"line {line} has no id.")
            elif key in rows:
                problems.append(
                    f"line {line} repeats id {row['id']!r} for annotator {row['annotator']!r}."
                )
            problems += [
                f"line {line}: {name}={describe(row[name])} is not one of {list(var.values)!r}."
                for name, var in variables.items()
                if row[name] and not fits(name, row[name])
            ]
            rows[key] = row
        if problems:
            raise SchemaError([f"{where}: {p}" for p in problems])
        return rows


def _stamp(info: os.stat_result) -> tuple[int, int, int]:
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
