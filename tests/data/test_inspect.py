"""`persona-iaa datasets inspect`: split sizes, label statistics and skips, as text or JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest

from persona_iaa.cli import main
from persona_iaa.data.registry import load_source, split_records
from persona_iaa.errors import DataError

from .miniatures import write_aadb, write_para


def test_json_report_of_both_tasks(tmp_path, capsys):
    write_para(tmp_path)
    assert main(["datasets", "inspect", f"para:{tmp_path}", "--json", "-o", "liked_threshold=3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "para" and report["threshold"] == 0.5
    aesthetic, personality = report["tasks"]["aesthetic"], report["tasks"]["personality"]
    source = load_source(f"para:{tmp_path}", "aesthetic")
    splits = split_records(source.records)
    scores = np.array([r.target[0] for r in splits["test"]])
    test = aesthetic["splits"]["test"]
    assert test["n"] == len(scores) == 3  # the GIAA test list minus the image missing on disk
    assert test["score"]["mean"] == pytest.approx(scores.mean())
    assert test["score"]["share_above_threshold"] == pytest.approx(np.mean(scores > 0.5))
    assert aesthetic["skipped"]["reasons"]["image file missing"]["count"] == 1
    assert set(personality["splits"]["train"]["traits"]) == set("OCEAN")
    assert personality["info"]["liked_threshold"] == 3.0


def test_text_report_and_an_unavailable_task(tmp_path, capsys):
    write_para(tmp_path)
    (tmp_path / "annotation" / "PARA-UserInfo.csv").unlink()
    assert main(["datasets", "inspect", f"para:{tmp_path}", "--val-fraction", "2"]) == 0
    out = capsys.readouterr().out
    assert f"para:{tmp_path}  [aesthetic]" in out and "skipped 1: image file missing" in out
    assert "val            2" in out
    assert "[personality]\n  not available: " in out and "need PARA-UserInfo.csv" in out


@pytest.mark.parametrize("argv, message", [
    (["-o", "colour=red"], "format 'aadb' has no option 'colour'; its options: test_list, images, labels"),
    (["--val-fraction", "500"],
     "data.val_fraction=500 asks for 500 validation images but the training split has only"),
])
def test_user_errors_are_one_line(tmp_path, capsys, argv, message):
    write_aadb(tmp_path)
    assert main(["datasets", "inspect", f"aadb:{tmp_path}", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_formats_lists_every_format_with_its_options(capsys):
    assert main(["datasets", "formats"]) == 0
    out = capsys.readouterr().out
    for name in ("ava:", "aadb:", "psychoflickr:", "para:", "flickr-aes:", "csv:", "cache:"):
        assert name in out
    assert "liked_threshold=4.0" in out


def test_no_usable_records_names_the_skip_reasons(tmp_path):
    (tmp_path / "AVA.txt").write_text("1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n")
    with pytest.raises(DataError,
                       match=r"no usable aesthetic records .* \(skipped 1: image file missing: 1\)"):
        load_source(f"ava:{tmp_path}", "aesthetic")


def test_a_format_name_cannot_be_registered_twice():
    from persona_iaa.data.registry import FORMATS, available_formats, register_format

    available_formats()  # the built-in formats are registered
    before = FORMATS.get("csv")
    with pytest.raises(ValueError, match="dataset format 'csv' is registered twice"):
        register_format("csv")(lambda path, task: None)
    assert FORMATS.get("csv") is before
