"""Writing output files safely: never over an existing file without --force, always atomically
(a temporary file in the same folder, renamed into place), nothing half-written on error."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import Location, OutputError


def check_writable(path: str | Path, *, force: bool) -> Path:
    """Refuse before any work when ``path`` exists (without force) or its folder does not."""
    target = Path(path)
    if target.is_dir():
        raise OutputError("is a directory", where=Location(str(target)),
                          fix="give a file name, e.g. out/model.svg")
    if target.exists() and not force:
        raise OutputError("already exists; not overwriting it", where=Location(str(target)),
                          fix="choose another name, or pass --force to replace it")
    if not target.parent.exists():
        raise OutputError(f"folder '{target.parent}' does not exist", where=Location(str(target)),
                          fix=f"create it first (mkdir -p {target.parent})")
    return target


def write_atomic(path: str | Path, data: bytes | str | None = None, *, force: bool = False,
                 writer: Callable[[Path], None] | None = None) -> Path:
    """Write ``data`` (or let ``writer`` fill a temporary path) and rename it onto ``path``."""
    target = check_writable(path, force=force)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if data is not None:
                handle.write(data.encode() if isinstance(data, str) else data)
        if writer is not None:
            writer(tmp)
        if target.exists() and not force:  # appeared while we worked
            raise OutputError("already exists; not overwriting it", where=Location(str(target)),
                              fix="choose another name, or pass --force to replace it")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
