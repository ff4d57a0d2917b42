"""``persona-iaa score`` end to end: inputs, every bad kind, exit codes, ranking, kill and resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from persona_iaa.cli import main
from persona_iaa.inference.writers import journal_path, read_rows

from .scoring_files import EXPECTED_ERRORS, write_jpegs


def test_every_kind_gets_one_row_and_only_broken_files_fail(trained_run, image_kinds, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    folder = next(iter(image_kinds.values())).parent
    assert (
        main(
            [
                "score",
                "--checkpoint",
                str(trained_run),
                str(folder),
                "--output",
                str(out),
                "--workers",
                "2",
                "--batch-size",
                "3",
            ]
        )
        == 3
    )
    rows = list(csv.DictReader(out.open()))
    by_path = {r["path"]: r for r in rows}
    assert [r["path"] for r in rows] == sorted(by_path) and len(rows) == len(image_kinds)
    for kind, path in image_kinds.items():
        row = by_path[str(path)]
        if kind in EXPECTED_ERRORS:
            assert row["score"] == "" and EXPECTED_ERRORS[kind] in row["error"], (kind, row)
        else:
            assert row["error"] == "" and 0 <= float(row["aesthetic"]) <= 1, (kind, row)
    assert f"{len(EXPECTED_ERRORS)} image(s) could not be scored" in capsys.readouterr().err


def test_folders_lists_and_files_expand_once_in_order_and_exit_0(trained_run, tmp_path, capsys):
    images = write_jpegs(tmp_path / "album" / "nested", 3) + write_jpegs(tmp_path / "album", 2, seed=1)
    (tmp_path / "album" / "notes.txt").write_text("not an image extension: skipped in folders")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# chosen\n{images[4].name}\n", encoding="utf-8")
    (tmp_path / images[4].name).write_bytes(images[4].read_bytes())
    out = tmp_path / "scores.jsonl"
    assert (
        main(
            [
                "score",
                "--checkpoint",
                str(trained_run),
                str(tmp_path / "album"),
                f"@{listing}",
                str(images[0]),
                "--output",
                str(out),
                "--sort",
                "2",
            ]
        )
        == 0
    )
    paths = [r["path"] for r in read_rows(out)]
    folder_order = sorted(str(p) for p in images)
    assert paths == folder_order + [str(tmp_path / images[4].name)]  # images[0] again: scored once
    ranking = capsys.readouterr().out
    assert "top 2 by final score" in ranking and "bottom 2 by final score" in ranking


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--output", "scores.xlsx"], ".csv, .jsonl, .parquet"),
        (["--resume"], "--resume needs --output"),
        (["--engine", "onnx", "--precision", "bf16"], "fp32 only"),
        (["--sort", "0"], "positive"),
    ],
)
def test_usage_errors_exit_2_with_one_line(trained_run, image_kinds, argv, message, capsys):
    code = main(["score", "--checkpoint", str(trained_run), str(image_kinds["jpeg"]), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_missing_inputs_are_usage_errors(trained_run, tmp_path, capsys):
    assert main(["score", "--checkpoint", str(trained_run), str(tmp_path / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_stdout_gets_csv_and_ranking_goes_to_stderr(trained_run, image_kinds, capsys):
    assert (
        main(
            [
                "score",
                "--checkpoint",
                str(trained_run),
                str(image_kinds["jpeg"]),
                "--sort",
                "1",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert captured.out.startswith("path,score,aesthetic,O,C,E,A,N,error\n") and "top 1" in captured.err


def _score_process(run: Path, folder: Path, out: Path) -> subprocess.Popen:
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "persona_iaa",
            "score",
            "--checkpoint",
            str(run),
            str(folder),
            "--output",
            str(out),
            "--workers",
            "1",
            "--batch-size",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_killed_run_resumes_and_scores_every_image_exactly_once(trained_run, tmp_path, suffix):
    folder = tmp_path / "photos"
    folder.mkdir()
    noisy = Image.effect_noise((900, 700), 60).convert("RGB")  # slow enough to decode to be killed part-way
    noisy.save(folder / "p000.jpg", quality=90)
    for i in range(1, 120):
        (folder / f"p{i:03d}.jpg").write_bytes((folder / "p000.jpg").read_bytes())
    expected = sorted(str(p) for p in folder.iterdir())
    out = tmp_path / f"scores{suffix}"
    written = journal_path(out) if suffix == ".parquet" else out
    process = _score_process(trained_run, folder, out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if written.is_file() and written.read_bytes().count(b"\n") >= 12:
            break
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial = [r["path"] for r in read_rows(out)]
    assert 10 <= len(partial) < len(expected), "the run should have been killed part-way"
    assert partial == expected[: len(partial)]
    assert (
        main(["score", "--checkpoint", str(trained_run), str(folder), "--output", str(out), "--resume"]) == 0
    )
    final = [r["path"] for r in read_rows(out)]
    assert sorted(final) == expected and len(final) == len(set(final))
