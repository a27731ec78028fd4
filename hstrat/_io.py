"""Writing user files safely: build beside the target, then rename into place.

A file is written to a fresh ``O_EXCL`` temporary beside it and renamed over it; a folder
(a report) is built beside it and swapped in with one ``renameat2(RENAME_EXCHANGE)`` /
``renamex_np(RENAME_SWAP)``, elsewhere with two renames. A kill leaves the old file or
folder or the new one, whole; an existing file or link is never followed; a replaced
file or folder keeps its mode. :func:`spreadsheet_csv` stops cells running as formulas.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import pandas as pd

_T = TypeVar("_T")
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
#: Suffix of the sibling folder a report is built in; a kill leaves one behind, which
#: the next :func:`replace_folder` of the same target removes.
PARTIAL_SUFFIX = ".hstrat-partial"


def _unique_sibling(target: Path, suffix: str, create: Callable[[Path], _T]) -> tuple[Path, _T]:
    """Create a fresh ``.<name>.<random><suffix>`` beside ``target`` (never an existing path)."""
    for _ in range(100):
        path = target.with_name(f".{target.name}.{secrets.token_hex(6)}{suffix}")
        try:
            return path, create(path)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary name beside {target}")


def _new_file(path: Path) -> int:
    return os.open(path, _NEW_FILE, 0o666)


def _write(fd: int, data: bytes, mode: int | None = None) -> None:
    with os.fdopen(fd, "wb") as handle:
        if mode is not None:
            os.chmod(handle.fileno(), mode)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_folder(path: Path) -> None:
    with contextlib.suppress(OSError):  # Windows cannot open a folder; nothing to flush there
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _mode_of(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return None


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write_bytes(folder / "a.bin", b"abc").read_bytes()
    b'abc'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = _unique_sibling(target, ".tmp", _new_file)
    try:
        _write(fd, data, _mode_of(target))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step; False where the system cannot."""
    if sys.platform not in ("linux", "darwin"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if hasattr(libc, "renameat2"):  # Linux (glibc 2.28+): AT_FDCWD, RENAME_EXCHANGE
        result = libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2)
    elif hasattr(libc, "renamex_np"):  # macOS: RENAME_SWAP
        result = libc.renamex_np(os.fsencode(a), os.fsencode(b), 2)
    else:
        return False
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # file system cannot swap
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_folder(directory: str | os.PathLike[str], files: Mapping[str, bytes]) -> Path:
    """Make ``directory`` hold exactly ``files`` (name → content), in one atomic step.

    Returns
    -------
    pathlib.Path
        The folder (symbolic links resolved).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
    >>> _ = replace_folder(out, {"a.txt": b"1", "b.txt": b"2"})
    >>> _ = replace_folder(out, {"a.txt": b"3"})
    >>> sorted(p.name for p in out.iterdir()), (out / "a.txt").read_text()
    (['a.txt'], '3')
    """
    target = Path(os.path.realpath(directory))
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{directory} is a file, not a folder.")
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        raise ValueError(
            f"{directory} is the current folder (or holds it) and cannot be replaced; "
            "write into a folder inside it."
        )
    for name in files:
        parts = name.split("/")
        if len(parts) > 2 or any(not p or Path(p).name != p or p.startswith(".") for p in parts):
            raise ValueError(
                f"file names must be plain names, with at most one folder; got {name!r}."
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*{PARTIAL_SUFFIX}"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a save that was killed
    new, _ = _unique_sibling(target, PARTIAL_SUFFIX, lambda p: p.mkdir(0o777))
    try:
        mode = _mode_of(target)
        if mode is not None:
            new.chmod(mode)
        for name, data in files.items():
            (new / name).parent.mkdir(exist_ok=True)
            _write(_new_file(new / name), data)
        _fsync_folder(new)
        if not target.exists():
            new.rename(target)
        elif not _exchange(new, target):
            old, _ = _unique_sibling(target, PARTIAL_SUFFIX, lambda p: p)
            target.rename(old)
            try:
                new.rename(target)
            except BaseException:
                old.rename(target)
                raise
            new = old
        # ``new`` now names the old content (or nothing): remove it
        _fsync_folder(target.parent)
    finally:
        shutil.rmtree(new, ignore_errors=True)
    return target


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _neutral(value: object) -> object:
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    return value if _PLAIN_NUMBER.fullmatch(value) else "'" + value


def spreadsheet_csv(frame: pd.DataFrame) -> str:
    """Return ``frame`` as CSV text that a spreadsheet will not run as formulas.

    Text cells and column names that start with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return ("CSV injection") get a leading ``'``; numbers are unchanged.
    Programs should read ``report.json``, which keeps every value exactly.

    Examples
    --------
    >>> import pandas as pd
    >>> print(spreadsheet_csv(pd.DataFrame({"name": ["=1+1", "-2", "-x"], "d": [-0.5, 1, 2]})))
    name,d
    '=1+1,-0.5
    -2,1.0
    '-x,2.0
    <BLANKLINE>
    """
    safe = frame.rename(columns=lambda c: _neutral(str(c)))
    for column in safe.columns:
        values = safe[column]
        if not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            safe[column] = values.astype(object).map(_neutral)
    return str(safe.to_csv(index=False))
