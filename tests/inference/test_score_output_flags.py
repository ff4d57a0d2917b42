"""``persona-iaa score`` output flags end to end: any file name, hostile names, bad --output, --csv-safe."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from persona_iaa.cli import main
from persona_iaa.inference.writers import read_rows

from .scoring_files import write_jpegs


def _named_copies(folder: Path, names: list[bytes]) -> list[str]:
    """JPEGs under names given as bytes (any bytes Linux allows); returns the paths as Python sees them."""
    source = write_jpegs(folder.parent / "source", 1)[0].read_bytes()
    paths = []
    for name in names:
        raw = os.fsencode(folder) + b"/" + name
        with open(raw, "wb") as handle:
            handle.write(source)
        paths.append(os.fsdecode(raw))
    return sorted(paths)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_non_utf8_file_name_is_scored_written_and_resumed_exactly(trained_run, tmp_path, suffix, capsys):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    photos = tmp_path / "photos"
    photos.mkdir()
    paths = _named_copies(photos, [b"caf\xe9.jpg", b"plain.jpg", b"\xff\xfe.jpg"])
    out = tmp_path / f"scores{suffix}"
    argv = ["score", "--checkpoint", str(trained_run), "--output", str(out), "--workers", "0", "--sort", "3"]
    assert main(argv + paths[:2]) == 0
    assert main(argv + paths + ["--resume"]) == 0  # resume recognises the odd names as done
    assert [r["path"] for r in read_rows(out)] == paths[:2] + paths[2:]
    ranking = capsys.readouterr().out
    assert "caf\\xe9.jpg" in ranking and "\\xff\\xfe.jpg" in ranking


def test_hostile_names_are_neutralised_in_csv_and_escaped_on_the_terminal(trained_run, tmp_path, capsys,
                                                                          monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    paths = _named_copies(photos, [b"\x1b[2J\x1b]0;pwned\x07.jpg", b"=HYPERLINK(1).jpg", b"line\rbreak.jpg"])
    names = [os.path.basename(p) for p in paths]
    out = tmp_path / "scores.csv"
    assert main(["score", "--checkpoint", str(trained_run), str(photos), "--output", str(out),
                 "--workers", "0", "--sort", "3"]) == 0
    shown = capsys.readouterr()
    assert "\x1b" not in shown.out + shown.err and "\\x1b[2J\\x1b]0;pwned\\x07.jpg" in shown.out
    assert [r["path"] for r in read_rows(out)] == paths
    with out.open(newline="") as handle:
        cells = [os.path.basename(r["path"]) for r in csv.DictReader(handle)]
    assert len(cells) == 3 and cells == names  # one record each; the = name is not at the start of its cell
    relative = tmp_path / "relative.csv"  # a relative path is written as given: its cell can start with =
    monkeypatch.chdir(photos)
    assert main(["score", "--checkpoint", str(trained_run), "=HYPERLINK(1).jpg", "--output", str(relative),
                 "--workers", "0"]) == 0
    with relative.open(newline="") as handle:
        assert next(csv.DictReader(handle))["path"] == "'=HYPERLINK(1).jpg"
    assert [r["path"] for r in read_rows(relative)] == ["=HYPERLINK(1).jpg"]
    assert main(["score", "--checkpoint", str(trained_run), "=HYPERLINK(1).jpg", "--output", str(relative),
                 "--workers", "0", "--no-csv-safe", "--overwrite"]) == 0
    with relative.open(newline="") as handle:
        assert next(csv.DictReader(handle))["path"] == "=HYPERLINK(1).jpg"


@pytest.mark.parametrize("make, message", [
    (lambda tmp: (tmp / "scores.csv").mkdir() or tmp / "scores.csv", "is a folder"),
    (lambda tmp: (tmp / "file").write_text("") or tmp / "file" / "scores.csv", "cannot write there"),
])
def test_an_output_that_cannot_be_written_is_one_line_before_any_scoring(trained_run, image_kinds, tmp_path,
                                                                           make, message, capsys):
    out = make(tmp_path)
    argv = ["score", "--checkpoint", str(trained_run), str(image_kinds["jpeg"]), "--output", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")


@pytest.mark.parametrize("suffix, content", [
    (".csv", "path,score,aesthetic,O,C,E,A,N,error\n/a.jpg,0.5,x,0,0,0,0,0,\n"),
    (".csv", "image,label\na.jpg,3\n"),
    (".jsonl", "{\"path\": \"/a.jpg\"}\n{oops\n"),
])
def test_resume_on_a_malformed_score_file_is_one_line_and_leaves_it_alone(trained_run, image_kinds, tmp_path,
                                                                         suffix, content, capsys):
    out = tmp_path / f"scores{suffix}"
    out.write_text(content)
    assert main(["score", "--checkpoint", str(trained_run), str(image_kinds["jpeg"]), "--output", str(out),
                 "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "choose another --output" in err
    assert out.read_text() == content


@pytest.mark.parametrize("argv, message", [
    (["--stars", "fixed"], "--stars needs --write-xmp"),
    (["--write-xmp", "--star-thresholds", "0.5,0.4,0.6,0.7"], "four increasing numbers"),
    (["--write-xmp", "--star-thresholds", "a,b"], "not a list of numbers"),
    (["--write-xmp", "--stars", "quantile", "--star-thresholds", "0.4,0.5,0.6,0.7"], "--stars fixed"),
])
def test_sidecar_flag_mistakes_are_one_line(trained_run, image_kinds, argv, message, capsys):
    assert main(["score", "--checkpoint", str(trained_run), str(image_kinds["jpeg"]), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_an_error_line_quoting_a_hostile_name_is_escaped(trained_run, tmp_path, capsys):
    missing = tmp_path / "\x1b]0;pwned\x07.jpg"
    assert main(["score", "--checkpoint", str(trained_run), str(missing)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b]0;pwned\\x07.jpg" in err and err.count("\n") == 1
