"""Writing output files safely: never over an existing file without --force, always atomically
(a temporary file in the same folder, renamed into place), nothing half-written on error."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import Location, OutputError


def check_writable(path: str | Path, *, force: bool) -> Path:
    """Refuse before any work when ``path`` exists (without force) or its folder does not."""
    target = Path(path)
    try:
        if target.is_dir():
            raise OutputError("is a directory", where=Location(str(target)),
                              fix="give a file name, e.g. out/model.svg")
        if target.exists() and not force:
            raise _exists(target)
        if not target.parent.exists():
            raise OutputError(f"folder '{target.parent}' does not exist",
                              where=Location(str(target)),
                              fix=f"create it first (mkdir -p {target.parent})")
        if not target.parent.is_dir():
            raise OutputError(f"'{target.parent}' is a file, not a folder",
                              where=Location(str(target)), fix="choose another output path")
    except (OSError, ValueError) as exc:  # a name the file system refuses (too long, NUL)
        raise _cannot_write(target, exc) from None
    return target


def write_atomic(path: str | Path, data: bytes | str | None = None, *, force: bool = False,
                 writer: Callable[[Path], None] | None = None) -> Path:
    """Write ``data`` (or let ``writer`` fill a temporary path) and rename it onto ``path``.

    The temporary file sits in the target's folder, so the rename is atomic: readers see the
    old file or the whole new one. Without ``force`` the file is linked into place, which fails
    if the name was taken meanwhile. The new file gets the permissions ``open()`` would give it
    (or keeps those of the file it replaces), not the temporary file's private 0o600.
    """
    target = check_writable(path, force=force)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=target.parent)
    except (OSError, ValueError) as exc:
        raise _cannot_write(target, exc) from None
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as handle:
                if data is not None:
                    handle.write(data.encode() if isinstance(data, str) else data)
            if writer is not None:
                writer(tmp)
            os.chmod(tmp, _mode_for(target))
            _move_into_place(tmp, target, force=force)
        except OSError as exc:  # disk full, quota, the folder vanished, ...
            raise _cannot_write(target, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _move_into_place(tmp: Path, target: Path, *, force: bool) -> None:
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # atomic, and fails when the name exists
    except FileExistsError:
        raise _exists(target) from None
    except OSError:  # no hard links on this file system: check, then rename
        if target.exists():
            raise _exists(target) from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)  # replacing: keep the file's permissions
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _exists(target: Path) -> OutputError:
    return OutputError("already exists; not overwriting it", where=Location(str(target)),
                       fix="choose another name, or pass --force to replace it")


def _cannot_write(target: Path, exc: BaseException) -> OutputError:
    reason = getattr(exc, "strerror", None) or str(exc)
    fix = ("choose a folder you can write to" if isinstance(exc, PermissionError)
           else "choose another output path")
    return OutputError(f"cannot write: {reason}", where=Location(str(target)), fix=fix)
