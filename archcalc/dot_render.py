"""DOT source text → the bytes of an image format, made by whichever Graphviz renderer is at hand.

Two renderers are looked for, in this order:

1. the system Graphviz ``dot`` on PATH: every format it was built with, PDF included;
2. ``graphviz-pure``, a static Rust port of ``dot`` that archcalc declares as a dependency, so SVG
   and PNG work right after ``pip install`` with no system Graphviz. It makes no PDF yet. Its
   binary sits in the scripts directory of the environment archcalc is installed in and is found
   through the package's record of installed files, so a venv's ``archcalc`` console script finds
   it without the venv being activated (PATH need not include the venv's bin).

DOT text needs no renderer: ``render_dot(source, "dot")`` gives the source back as UTF-8.
Renderers run as subprocesses from an argument list with a timeout; nothing here is imported from
a renderer, and nothing runs until a format is asked for.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from .errors import RenderError

__all__ = ["Renderer", "available_renderers", "check_format", "is_binary", "render_dot",
           "supported_formats"]

PIP_RENDERER = "graphviz-pure"
DOT_TEXT_FORMATS = frozenset({"dot", "gv"})  # returned as they are, no renderer involved
PROBE_TIMEOUT = 10.0  # seconds for `-V` and `-T?`
RENDER_TIMEOUT = 120.0  # seconds for one rendering

# Output formats of Graphviz proper (graphviz.org/docs/outputs), for telling "a format this
# machine's renderers lack" from "not a format at all".
GRAPHVIZ_FORMATS = frozenset(
    (
        *("bmp", "canon", "cgimage", "cmap", "cmapx", "cmapx_np", "dot", "dot_json", "eps", "exr"),
        *("fig", "gd", "gd2", "gif", "gtk", "gv", "ico", "imap", "imap_np", "ismap", "jp2", "jpe"),
        *("jpeg", "jpg", "json", "json0", "kitty", "kittyz", "mp", "pct", "pdf", "pic", "pict"),
        *("plain", "plain-ext", "png", "pov", "ps", "ps2", "psd", "sgi", "svg", "svg_inline"),
        *("svgz", "tga", "tif", "tiff", "tk", "vml", "vmlz", "vrml", "wbmp", "webp", "x11", "xdot"),
        *("xdot1.2", "xdot1.4", "xdot_json", "xlib"),
    )
)
IMAGE_FORMATS = ("svg", "png", "pdf", "jpg", "jpeg", "gif", "webp", "svgz", "ps", "eps")

INSTALL_SYSTEM = (
    "install Graphviz so that `dot` is on PATH (apt-get install graphviz, dnf install graphviz, "
    "brew install graphviz or winget install graphviz); archcalc uses it when present"
)
INSTALL_PIP = f"pip install {PIP_RENDERER} (SVG and PNG)"


@dataclass(frozen=True)
class Renderer:
    """A runnable ``dot``-compatible program and what it can make."""

    name: str  # "dot" (the system Graphviz) or "graphviz-pure"
    path: str
    version: str  # its `-V` line, e.g. "graphviz version 2.43.0 (0)"
    formats: frozenset[str]

    @property
    def label(self) -> str:
        """How to name it to a person, e.g. ``graphviz-pure version 0.2.2 (...)``."""
        if self.version.lower().startswith(self.name.lower()):
            return self.version
        kind = "system dot" if self.name == "dot" else self.name
        return f"{kind}, {self.version}" if self.version else kind

    def makes(self) -> str:
        """Its image formats as a short list for messages (all formats if it makes no image)."""
        shown = [fmt for fmt in IMAGE_FORMATS if fmt in self.formats] or sorted(self.formats)
        return ", ".join(shown)


def available_renderers() -> list[Renderer]:
    """The renderers that run on this machine: the system ``dot`` first, then graphviz-pure."""
    found: list[Renderer] = []
    seen: set[str] = set()
    for name, path in (("dot", shutil.which("dot")), (PIP_RENDERER, _pip_renderer_path())):
        if path is None:
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        renderer = _probe(name, path)
        if renderer is not None:
            seen.add(real)
            found.append(renderer)
    return found


def supported_formats() -> list[str]:
    """Every format ``render_dot`` can make here, DOT text included, sorted."""
    formats = set(DOT_TEXT_FORMATS)
    for renderer in available_renderers():
        formats |= renderer.formats
    return sorted(formats)


def check_format(fmt: str) -> str:
    """``fmt`` written as the renderers take it (' .SVG' -> 'svg'), once it is known that some
    renderer here makes it (DOT text needs none). Raises :class:`RenderError` for a word that is
    no format (suggesting a close one) or a format no renderer here makes (saying what to
    install), before any work is done."""
    return _renderers_for(fmt)[0]


def is_binary(data: bytes) -> bool:
    """Whether rendered bytes are unfit for a terminal: a NUL byte, or not UTF-8 text."""
    if b"\0" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _renderers_for(fmt: str) -> tuple[str, list[Renderer], list[Renderer]]:
    """The cleaned-up format, the renderers found and those of them that make it."""
    fmt = fmt.strip().lower().removeprefix(".")
    if fmt in DOT_TEXT_FORMATS:
        return fmt, [], []
    renderers = available_renderers()
    if not re.fullmatch(r"[a-z0-9_.-]+", fmt) or (
        fmt not in GRAPHVIZ_FORMATS and not any(fmt in r.formats for r in renderers)
    ):
        raise _unknown_format(fmt, renderers)
    capable = [r for r in renderers if fmt in r.formats]
    if not capable:
        raise _no_renderer_for(fmt, renderers)
    return fmt, renderers, capable


def render_dot(source: str, fmt: str, *, timeout: float = RENDER_TIMEOUT) -> tuple[bytes, str]:
    """Render DOT ``source`` as ``fmt``; return the bytes and the label of the renderer used.

    The first available renderer that makes ``fmt`` is used; should it fail, the next one that
    makes it is tried. Raises :class:`RenderError` naming the format, the renderers tried and what
    to install (see :func:`check_format`).
    """
    fmt, renderers, capable = _renderers_for(fmt)
    if fmt in DOT_TEXT_FORMATS:
        return source.encode("utf-8"), "none (DOT text)"
    failures = []
    for renderer in capable:
        try:
            return _run(renderer, source, fmt, timeout), renderer.label
        except _RunFailed as failure:
            failures.append(f"{renderer.label}: {failure}")
    raise RenderError(
        f"cannot render {fmt.upper()}: " + "; ".join(failures),
        fix="ask for DOT text (format dot), which needs no renderer"
        + ("" if any(r.name == "dot" for r in renderers) else f"; or {INSTALL_SYSTEM}"),
    )


# ------------------------------------------------------------------------- finding and probing


def _pip_renderer_path() -> str | None:
    """The graphviz-pure binary installed alongside this Python, or on PATH, or None."""
    names = (PIP_RENDERER + ".exe", PIP_RENDERER) if os.name == "nt" else (PIP_RENDERER,)
    import importlib.metadata  # only when a renderer is wanted: it is slow to import

    candidates: list[Path] = []
    try:  # the installer's record knows where the script went, whatever the install scheme
        dist = importlib.metadata.distribution(PIP_RENDERER)
        candidates += [Path(dist.locate_file(f)) for f in dist.files or () if f.name in names]
    except importlib.metadata.PackageNotFoundError:
        pass
    dirs = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        dirs.append(sysconfig.get_path("scripts", user_scheme))
    candidates += [Path(d) / n for d in dirs if d for n in names]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate.resolve())
    return shutil.which(PIP_RENDERER)


def _probe(name: str, path: str) -> Renderer | None:
    """The renderer at ``path`` if it runs and says it is Graphviz-compatible, else None."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _probe_cached(name, path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _probe_cached(name: str, path: str, _mtime: int, _size: int) -> Renderer | None:
    try:
        version = _quiet([path, "-V"])
        listing = _quiet([path, "-T?"])
    except (OSError, subprocess.SubprocessError):
        return None
    if "graphviz" not in version.lower():  # some other program called `dot`
        return None
    match = re.search(r"Use one of:(.*)", listing, re.DOTALL)
    if not match:
        return None
    formats = frozenset(word.split(":")[0] for word in match.group(1).split())
    line = version.strip().splitlines()[0]
    version = line.split(" - ", 1)[1] if " - " in line else line
    return Renderer(name=name, path=path, version=version.strip(), formats=formats)


def _quiet(argv: list[str]) -> str:
    """Both output streams of a short probe run (``dot`` answers `-V` and `-T?` on stderr)."""
    done = subprocess.run(argv, input=b"", capture_output=True, timeout=PROBE_TIMEOUT, check=False)
    return (done.stdout + done.stderr).decode("utf-8", "replace")


# ---------------------------------------------------------------------------------- rendering


class _RunFailed(Exception):
    """One renderer could not make the output; the message says why."""


def _run(renderer: Renderer, source: str, fmt: str, timeout: float) -> bytes:
    try:
        done = subprocess.run(
            [renderer.path, f"-T{fmt}"],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _RunFailed(f"no answer within {timeout:g} s") from None
    except OSError as error:
        raise _RunFailed(f"cannot run {renderer.path}: {error.strerror or error}") from None
    if done.returncode != 0 or not done.stdout:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        errors = [ln for ln in lines if ln.lower().startswith("error")] or lines[-3:]
        detail = " / ".join(errors) or "no output"
        raise _RunFailed(f"exit status {done.returncode}: {detail}")
    return done.stdout


# ----------------------------------------------------------------------------------- messages


def _tried(renderers: list[Renderer]) -> str:
    if not renderers:
        return (
            f"no Graphviz renderer found (no `dot` on PATH, no {PIP_RENDERER} in "
            f"{sysconfig.get_path('scripts')} or on PATH)"
        )
    return "; ".join(f"{r.label} makes {r.makes()}" for r in renderers)


def _choices(renderers: list[Renderer]) -> str:
    """The image formats these renderers make, and DOT text, as 'svg, png or dot'."""
    shown = [f for f in IMAGE_FORMATS if any(f in r.formats for r in renderers)] + ["dot"]
    return ", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0]


def _no_renderer_for(fmt: str, renderers: list[Renderer]) -> RenderError:
    if not renderers:
        fix = f"{INSTALL_PIP}, or {INSTALL_SYSTEM}, for every format; DOT text needs neither"
    elif not any(r.name == "dot" for r in renderers):
        fix = f"{INSTALL_SYSTEM}; or choose {_choices(renderers)}"
    else:
        fix = f"install a Graphviz whose `dot -T?` lists {fmt}; or choose {_choices(renderers)}"
    return RenderError(f"cannot render {fmt.upper()}: {_tried(renderers)}", fix=fix)


def _unknown_format(fmt: str, renderers: list[Renderer]) -> RenderError:
    known = {f for r in renderers for f in r.formats} | DOT_TEXT_FORMATS | set(IMAGE_FORMATS)
    close = difflib.get_close_matches(fmt, sorted(known), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return RenderError(
        f"unknown diagram format '{fmt}'",
        fix=f"{hint}this machine can make {_choices(renderers)}",
    )
