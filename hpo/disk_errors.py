"""A full disk or a read-only filesystem mid-run: find the cause, say it in one line.

When the results directory stops taking writes (``ENOSPC``, ``EROFS``, ``EDQUOT``), the failure can
surface in our own writers (``hpo_state.json``, ``curves.parquet``, the final results), in Tune's
(experiment snapshot, trial logs, checkpoints), or only as a later internal error of Ray's (an
``AssertionError``), with the real cause logged earlier.  :func:`find` looks for the cause in an
exception's chain; :class:`Watch` remembers one that Ray only logged; :func:`stopped` turns it
into :class:`hpo.errors.StorageStopped`, whose message the CLI prints as its last line.

Nothing is corrupted by such a failure: our files are replaced atomically (``hpo.atomic``), and a
torn Tune snapshot is left for ``--resume`` to fall back from (``hpo.ray.fallback``).
"""
from __future__ import annotations

import errno
import logging
import os

from .errors import StorageStopped

DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}
_WORDS = {os.strerror(e): e for e in DISK_ERRNOS}  # "No space left on device", ... in Ray's logged text


def find(exc: BaseException | None) -> OSError | None:
    """The full-disk/read-only ``OSError`` in ``exc``'s chain (cause, context, wrapped ``.cause``), or None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            return exc
        for word, code in _WORDS.items():  # Ray re-raises some errors as text only (RayTaskError, TuneError)
            if word in str(exc) and not isinstance(exc, OSError):
                return OSError(code, word)
        exc = getattr(exc, "cause", None) if isinstance(getattr(exc, "cause", None), BaseException) else \
            (exc.__cause__ or exc.__context__)
    return None


class Watch(logging.Handler):
    """Attached to Ray's loggers while a run goes on: keeps the first full-disk/read-only error Ray
    logged (with its traceback or in its text), for the case where Ray then fails another way."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.error: OSError | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.error is not None:
            return
        exc = record.exc_info[1] if record.exc_info else None
        self.error = find(exc) if exc is not None else None
        if self.error is None:
            try:
                self.error = find(RuntimeError(record.getMessage()))
            except Exception:  # noqa: BLE001 - a log record that cannot be formatted says nothing
                pass

    def __enter__(self) -> "Watch":
        logging.getLogger("ray").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("ray").removeHandler(self)


def stopped(err: OSError, results_dir: str | os.PathLike) -> StorageStopped:
    """``StorageStopped`` naming the cause, the file (when known) and how to continue."""
    what = err.strerror or os.strerror(err.errno)
    where = f"while writing {err.filename}" if err.filename else f"while writing under {results_dir}"
    return StorageStopped(f"run stopped: {what} {where}; nothing was corrupted; free space (or make the "
                          f"filesystem writable) and resume with --resume {results_dir}")
