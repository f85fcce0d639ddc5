"""archcalc/outputs.py: never over an existing file without force, atomic, nothing half-written.

Every file archcalc writes (diagrams, saved activations and weights, ONNX models) goes
through write_atomic, so these properties hold for `render`, `run --save` and `export`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from archcalc.errors import OutputError
from archcalc.outputs import check_writable, write_atomic


class Boom(Exception):
    pass


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_bytes_and_text(tmp_path):
    assert write_atomic(tmp_path / "a.bin", b"\x00\x01") == tmp_path / "a.bin"
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    write_atomic(tmp_path / "b.txt", "ünïcode\n")
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "ünïcode\n"
    assert listing(tmp_path) == ["a.bin", "b.txt"]  # no temporary files left behind


def test_a_writer_fills_the_file(tmp_path):
    def writer(tmp: Path) -> None:
        tmp.write_bytes(b"from the writer")

    write_atomic(tmp_path / "w.out", writer=writer)
    assert (tmp_path / "w.out").read_bytes() == b"from the writer"


def test_existing_file_is_not_overwritten_without_force(tmp_path):
    target = tmp_path / "model.svg"
    target.write_text("original")
    with pytest.raises(OutputError) as info:
        write_atomic(target, "new")
    assert info.value.message == (f"{target}: already exists; not overwriting it. "
                                  "Fix: choose another name, or pass --force to replace it.")
    assert target.read_text() == "original"
    assert listing(tmp_path) == ["model.svg"]


def test_force_replaces(tmp_path):
    target = tmp_path / "model.svg"
    target.write_text("original")
    write_atomic(target, "new", force=True)
    assert target.read_text() == "new"
    assert listing(tmp_path) == ["model.svg"]


def test_check_writable_refuses_before_any_work(tmp_path):
    target = tmp_path / "x.npz"
    target.write_text("keep")
    with pytest.raises(OutputError, match="already exists"):
        check_writable(target, force=False)
    assert check_writable(target, force=True) == target
    assert check_writable(tmp_path / "new.npz", force=False) == tmp_path / "new.npz"
    assert listing(tmp_path) == ["x.npz"]


def test_a_folder_is_not_a_file(tmp_path):
    with pytest.raises(OutputError) as info:
        write_atomic(tmp_path, "x", force=True)
    assert info.value.message == (f"{tmp_path}: is a directory. "
                                  "Fix: give a file name, e.g. out/model.svg.")


def test_missing_folder(tmp_path):
    target = tmp_path / "nowhere" / "x.svg"
    with pytest.raises(OutputError) as info:
        write_atomic(target, "x")
    assert info.value.message == (f"{target}: folder '{tmp_path / 'nowhere'}' does not exist. "
                                  f"Fix: create it first (mkdir -p {tmp_path / 'nowhere'}).")


def test_writer_failing_midway_leaves_nothing(tmp_path):
    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(b"half of it")
            handle.flush()
            raise Boom("disk on fire")

    with pytest.raises(Boom):
        write_atomic(tmp_path / "out.npz", writer=writer)
    assert listing(tmp_path) == []


def test_writer_failing_midway_keeps_the_original(tmp_path):
    target = tmp_path / "out.npz"
    target.write_bytes(b"the user's results")

    def writer(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise Boom

    with pytest.raises(Boom):
        write_atomic(target, writer=writer, force=True)
    assert target.read_bytes() == b"the user's results"
    assert listing(tmp_path) == ["out.npz"]


def test_interrupt_leaves_nothing(tmp_path):
    def writer(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "out.svg", writer=writer)
    assert listing(tmp_path) == []


def test_no_partial_file_is_ever_visible_under_the_target_name(tmp_path):
    target = tmp_path / "out.onnx"
    seen = []

    def writer(tmp: Path) -> None:
        tmp.write_bytes(b"first part")
        seen.append(target.exists())
        with open(tmp, "ab") as handle:
            handle.write(b", second part")
        seen.append(target.exists())

    write_atomic(target, writer=writer)
    assert seen == [False, False]
    assert target.read_bytes() == b"first part, second part"


def test_a_file_that_appears_meanwhile_is_not_overwritten(tmp_path):
    target = tmp_path / "out.svg"

    def writer(tmp: Path) -> None:
        tmp.write_text("ours")
        target.write_text("someone else's")  # e.g. a second archcalc started at once

    with pytest.raises(OutputError, match="already exists"):
        write_atomic(target, writer=writer)
    assert target.read_text() == "someone else's"
    assert listing(tmp_path) == ["out.svg"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_new_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "diagram.svg", "<svg/>")
    finally:
        os.umask(old)
    # 0o666 & ~0o022 = 0o644, as `open(path, "w")` would give (a temporary file is 0o600)
    assert stat.S_IMODE((tmp_path / "diagram.svg").stat().st_mode) == 0o644


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_replacing_keeps_the_files_permissions(tmp_path):
    target = tmp_path / "weights.npz"
    target.write_bytes(b"old")
    target.chmod(0o640)
    write_atomic(target, b"new", force=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_file_where_the_folder_should_be(tmp_path):
    (tmp_path / "out").write_text("a file, not a folder")
    target = tmp_path / "out" / "x.svg"
    with pytest.raises(OutputError) as info:
        write_atomic(target, "x")
    assert info.value.message == (f"{target}: '{tmp_path / 'out'}' is a file, not a folder. "
                                  "Fix: choose another output path.")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError) as info:
            write_atomic(folder / "x.svg", "x")
    finally:
        folder.chmod(0o700)
    assert info.value.message == (f"{folder / 'x.svg'}: cannot write: Permission denied. "
                                  "Fix: choose a folder you can write to.")


@pytest.mark.parametrize("name", ["bad\0name.svg", "x" * 5000 + ".svg"])
def test_names_the_file_system_refuses(tmp_path, name):
    with pytest.raises(OutputError) as info:
        write_atomic(tmp_path / name, "x")
    assert ": cannot write: " in info.value.message
    assert info.value.message.endswith("Fix: choose another output path.")
    assert listing(tmp_path) == []
