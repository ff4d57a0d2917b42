"""Input expansion: odd entries are passed on (to become error rows), unreadable folders are reported."""
from __future__ import annotations

import logging
import os

import pytest

from persona_iaa.cli import main
from persona_iaa.errors import DataError
from persona_iaa.inference import inputs
from persona_iaa.inference.inputs import SkippedFolder, iter_image_paths

from .scoring_files import write_jpegs


@pytest.fixture
def album_with_a_locked_folder(tmp_path, monkeypatch):
    """An album whose ``locked`` subfolder cannot be listed (simulated: tests may run as root)."""
    album = tmp_path / "album"
    readable = write_jpegs(album / "open", 2)
    write_jpegs(album / "locked", 2)
    os.mkfifo(album / "pipe.jpg")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(album / "locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(inputs.os, "scandir", scandir)
    return album, readable


def test_unreadable_folders_are_logged_and_recorded_and_odd_files_passed_on(album_with_a_locked_folder,
                                                                            caplog):
    album, readable = album_with_a_locked_folder
    skipped: list[SkippedFolder] = []
    with caplog.at_level(logging.WARNING, logger=inputs.__name__):
        paths = list(iter_image_paths([album], skipped))
    # the FIFO is passed on: it gets its error row from the opener
    assert paths == sorted([str(album / "pipe.jpg"), *map(str, readable)])
    assert skipped == [SkippedFolder(str(album / "locked"), "Permission denied")]
    assert [r.getMessage() for r in caplog.records] == [
        f"{album / 'locked'}: cannot read this folder (Permission denied); its images are skipped"]


def test_score_counts_unreadable_folders_in_its_summary(trained_run, album_with_a_locked_folder, tmp_path,
                                                        capsys):
    album, _ = album_with_a_locked_folder
    out = tmp_path / "scores.jsonl"
    argv = ["score", "--checkpoint", str(trained_run), str(album), "--output", str(out), "--workers", "0"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "1 folder(s) could not be read; their images were skipped" in err
    assert "1 image(s) could not be scored" in err  # the FIFO


def test_a_path_list_that_is_not_utf8_is_one_line(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"photo-\xe9t\xe9.jpg\n")
    with pytest.raises(DataError, match="not UTF-8"):
        list(iter_image_paths([f"@{listing}"]))
