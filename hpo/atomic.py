"""Crash-safe file replacement: a reader (or a resume after ``kill -9`` or a power cut) sees either
the old file or the new one, never a torn mix or an empty file.

The classic sequence: write a temporary file in the same folder (a rename is atomic only within
one filesystem), ``fsync`` it so its data is on disk before its name is, ``rename`` it over the
target, then ``fsync`` the folder so the rename itself survives a crash.  A failure at any step
leaves the target untouched and removes the temporary file.  A ``kill -9`` between the first
write and the rename can leave a hidden ``.NAME.*.tmp`` beside the target; it is never read.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable, Union

Content = Union[str, bytes, Callable[[Path], None]]


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename or a new name in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, content: Content) -> Path:
    """Replace ``path`` with ``content``: text (UTF-8), bytes, or a function that writes the file
    at the path it is given (e.g. ``lambda p: df.to_parquet(p)``).  Returns ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # Created here, with the mode a plain open() would give (0666 less the umask), never 0600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if callable(content):
            os.close(fd)
            fd = -1
            content(tmp)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        if fd < 0:
            fd = os.open(tmp, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path
