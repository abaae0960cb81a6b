"""The files hookctl reads and makes. Every file it reads (hooks files, saved plans, the OAuth
token file, a previous metrics file) is read through `read_bounded`, so that no path, however
hostile, can make it wait forever or read without end. Every file it makes (saved plans,
imported hooks files, the token file, the metrics file) is written through `write_atomically`,
and every file it edits (fmt, import --update) through `rewrite_in_place` on the same
temporary-file-and-rename, so that a reader, or the next run after a crash or a full disk, sees
the old file or the new one, never a truncated one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from hookctl.errors import HookctlError

__all__ = [
    "NotAFile",
    "PendingWrite",
    "TooLarge",
    "begin_write",
    "not_a_file",
    "read_bounded",
    "read_bounded_text",
    "rewrite_in_place",
    "write_atomically",
]

# Read in slices: read(n) reserves n bytes up front, 200 MiB for a plan file of a few KiB.
_SLICE = 1 << 20


class NotAFile(OSError):
    """The path names something other than a regular file: a directory, a FIFO, a device or a
    socket. `reason` says which, in `not_a_file`'s words."""

    def __init__(self, path: str, mode: int) -> None:
        self.reason = not_a_file(mode)
        super().__init__(errno.EINVAL, self.reason, path)


def not_a_file(mode: int) -> str:
    """Why a path of this st_mode is not read as a file."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    kind = next((what for test, what in kinds if test(mode)), "not a regular file")
    # A FIFO or a device may never end, or wait for a writer forever.
    return f"is {kind}, not a regular file: give hookctl a file"


class TooLarge(ValueError):
    """A file longer than the bound its reader sets; the text says the bound."""


def read_bounded_text(path: str | os.PathLike[str], limit: int) -> str:
    """The UTF-8 text of the regular file at `path`: TooLarge past `limit` bytes,
    UnicodeDecodeError when it is not UTF-8, OSError (NotAFile too) as read_bounded raises it."""
    raw = read_bounded(path, limit)
    if len(raw) > limit:
        raise TooLarge(f"larger than {limit} bytes")
    return raw.decode("utf-8")


def read_bounded(
    path: str | os.PathLike[str],
    limit: int,
    *,
    follow_symlinks: bool = True,
    check: Callable[[os.stat_result], None] | None = None,
) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` + 1 of them: one byte past the
    bound is enough for the caller to know that the file is too large. NotAFile for anything
    but a regular file, other OSErrors as open() and read() raise them; each caller words
    them. `check` sees the opened file's stat first and may refuse it (a token file's owner
    and mode); without `follow_symlinks` a symlink is refused by the open itself."""
    name = os.fspath(path)
    # Without O_NONBLOCK, opening a FIFO that no one writes to would wait forever; the flag
    # changes nothing for a regular file, and anything else is refused below. (Windows has
    # no such flag, and no FIFOs that open() waits on.)
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    flags = os.O_RDONLY | nonblocking | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(name, flags)
    try:
        info = os.fstat(fd)
        if check is not None:
            check(info)
        mode = info.st_mode
        if not stat.S_ISREG(mode):
            raise NotAFile(name, mode)
        if nonblocking:
            os.set_blocking(fd, True)
        file = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with file:
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := file.read(min(_SLICE, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks)


class PendingWrite:
    """A file write begun: its temporary file exists beside the target, so that what can fail
    before any content is known (no permission, no inode) has failed already. commit() writes
    and renames; discard() removes the temporary file."""

    def __init__(self, target: str, fd: int, temp: str, what: str, error: type[HookctlError]):
        self.target, self._fd, self._temp, self._what, self._error = target, fd, temp, what, error

    def commit(self, text: str, *, overwrite: bool = True) -> None:
        """Write `text` and rename it into place (see write_atomically)."""
        try:
            with os.fdopen(self._fd, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            if overwrite:
                os.replace(self._temp, self.target)
            else:
                _link_new(self._temp, self.target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
            if isinstance(exc, OSError) and not isinstance(exc, FileExistsError):
                raise self._error(
                    f"{self.target}: cannot write {self._what}: {_reason(exc)}"
                ) from None
            raise

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with contextlib.suppress(OSError):
            os.unlink(self._temp)


def begin_write(
    path: str | os.PathLike[str],
    *,
    mode: int = 0o644,
    umask: bool = True,
    what: str = "the file",
    error: type[HookctlError] = HookctlError,
) -> PendingWrite:
    """Create the temporary file of an atomic write of `path` now; `error` if it cannot be.
    Its permissions are `mode` less the umask, or exactly `mode` when `umask` is False."""
    target = os.fspath(path)
    try:
        fd, temp = _create_beside(target, mode)
    except OSError as exc:
        raise error(f"{target}: cannot write {what}: {_reason(exc)}") from None
    pending = PendingWrite(target, fd, temp, what, error)
    if not umask:
        try:
            os.chmod(temp, mode)
        except OSError as exc:
            pending.discard()
            raise error(f"{target}: cannot write {what}: {_reason(exc)}") from None
    return pending


def write_atomically(
    path: str | os.PathLike[str],
    text: str,
    *,
    mode: int = 0o644,
    umask: bool = True,
    overwrite: bool = True,
    what: str = "the file",
    error: type[HookctlError] = HookctlError,
) -> None:
    """Write `text` to `path` with permissions `mode` less the umask, as open() gives them (or
    exactly `mode` when `umask` is False): into a temporary file beside it, flushed to disk,
    then renamed over it. On any failure the old file is left as it was and the temporary one
    removed; the failure is raised as `error`, one line naming the path and `what` was being
    written.

    With `overwrite` False an existing `path` is kept and FileExistsError raised, decided at
    the moment of the rename, so that a file created meanwhile is not clobbered either.
    """
    pending = begin_write(path, mode=mode, umask=umask, what=what, error=error)
    pending.commit(text, overwrite=overwrite)


def rewrite_in_place(
    path: str | os.PathLike[str], text: str, original: str, *, what: str = "the file"
) -> None:
    """Replace the file at `path`, whose text was `original` when it was read, by `text`, as an
    editor saving it would (fmt, import --update): the file keeps its permission bits; a
    symlink is followed and stays a symlink (the file it points to is rewritten); a read-only
    file is refused; and so is a file that changed since it was read (an edit saved meanwhile
    is never lost). HookctlError, one line naming the path, otherwise."""
    shown = os.fspath(path)
    target = os.path.realpath(shown)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError as exc:
        raise HookctlError(f"{shown}: cannot write {what}: {_reason(exc)}") from None
    if not mode & stat.S_IWUSR:
        raise HookctlError(f"{shown}: read-only (mode {mode:o}): {what} was not written")
    pending = begin_write(target, mode=mode, what=what)
    try:
        now = read_bounded(target, len(original.encode("utf-8")))
    except OSError as exc:
        pending.discard()
        raise HookctlError(f"{shown}: cannot read it again: {_reason(exc)}") from None
    if now != original.encode("utf-8"):
        pending.discard()
        raise HookctlError(
            f"{shown}: changed since hookctl read it: {what} was not written (run it again)"
        )
    pending.commit(text)
    # The umask may have taken bits away: the file keeps exactly the mode it had.
    with contextlib.suppress(OSError):
        os.chmod(target, mode)


def _create_beside(target: str, mode: int) -> tuple[int, str]:
    """A new, empty temporary file in `target`'s directory, open for writing, and its path.
    Created with `mode` from the start (the kernel applies the umask), so that a plan file is
    never readable by others, not even for a moment."""
    directory = os.path.dirname(os.path.abspath(target))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = os.path.join(directory, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp, flags, mode), temp
        except FileExistsError:
            continue  # 48 random bits taken: try other ones
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


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


def schema_text(name: str) -> str:
    """A JSON Schema from schemas/, as installed (hookctl.schemas) or beside a source checkout."""
    from importlib.resources import files

    try:
        return (files("hookctl.schemas") / name).read_text(encoding="utf-8")
    except ModuleNotFoundError:
        # Run from a checkout (`python -m hookctl` in the repository), where schemas/ is not
        # inside the package directory; an installed hookctl always has hookctl.schemas.
        return (Path(__file__).resolve().parents[2] / "schemas" / name).read_text(encoding="utf-8")
