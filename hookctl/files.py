"""Writing the files hookctl makes (saved plans, imported hooks files): atomically, so that a
reader, or the next run after a crash or a full disk, sees the old file or the new one, never a
truncated one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile

from hookctl.errors import HookctlError

__all__ = ["write_atomically"]


def write_atomically(
    path: str | os.PathLike[str],
    text: str,
    *,
    mode: int = 0o644,
    overwrite: bool = True,
    what: str = "the file",
    error: type[HookctlError] = HookctlError,
) -> None:
    """Write `text` to `path` with permissions `mode`: into a temporary file beside it, flushed
    to disk, then renamed over it. On any failure the old file is left as it was and the
    temporary one removed; the failure is raised as `error`, one line naming the path and
    `what` was being written.

    With `overwrite` False an existing `path` is kept and FileExistsError raised, decided at
    the moment of the rename, so that a file created meanwhile is not clobbered either.
    """
    target = os.fspath(path)
    try:
        # mkstemp creates the file 0600 whatever the umask; the mode is set on it before any
        # content is written, and the rename keeps it.
        fd, temp = tempfile.mkstemp(
            dir=os.path.dirname(os.path.abspath(target)),
            prefix=f".{os.path.basename(target)}.",
            suffix=".tmp",
        )
    except OSError as exc:
        raise error(f"{target}: cannot write {what}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), mode)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if overwrite:
            os.replace(temp, target)
        else:
            _link_new(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError) and not isinstance(exc, FileExistsError):
            raise error(f"{target}: cannot write {what}: {_reason(exc)}") from None
        raise


def _link_new(temp: str, target: str) -> None:
    """Give `temp` the name `target` unless `target` exists (FileExistsError then)."""
    try:
        # A hard link fails when the name is taken: the check and the write are one step.
        os.link(temp, target)
    except FileExistsError:
        raise
    except OSError:
        # A file system without hard links (some FUSE, network and FAT ones): check, then
        # rename; a file created between the two is the only thing this can overwrite.
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target) from None
        os.replace(temp, target)
        return
    with contextlib.suppress(OSError):
        os.unlink(temp)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
