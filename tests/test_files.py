"""Atomic writes: the old file survives a failed write; no temp files are left behind."""

import pytest

from tightfit.files import atomic_path, atomic_write_text


def test_failed_write_keeps_previous_file(tmp_path):
    target = tmp_path / "run.json"
    atomic_write_text(target, "good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_written_files_get_the_mode_of_a_plain_open(tmp_path):
    import os

    previous = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "shared.json", "{}")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by others, as open() would make it
