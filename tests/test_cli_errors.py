"""Bad input ends in one clear line on stderr and exit status 2, never a traceback."""
from __future__ import annotations

import pytest

from persona_iaa.cli import main


def run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("argv, expected", [
    (["train", "--aesthetic-data", "aadb:/no/such/AADB", "--no-personality", "--backbone", "tiny"], "does not exist"),
    (["train", "--aesthetic-data", "flickr9k:/tmp", "--no-personality"], "unknown dataset format 'flickr9k'"),
    (["train", "--aesthetic-data", "just-a-path", "--no-personality"], "not FORMAT:PATH"),
    (["train", "--no-personality"], "no aesthetic data"),
    (["evaluate", "--checkpoint", "/no/such/run", "--aesthetic-data", "csv:x.csv"], "not found"),
    (["score", "--checkpoint", "/no/such/run", "x.jpg"], "not found"),
])
def test_usage_errors_are_one_line(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = run(argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and expected in err and "\n" not in err


def test_unknown_backbone(demo_data, tmp_path, capsys):
    code, err = run(["train", "--aesthetic-data", demo_data["aesthetic"], "--no-personality", "--backbone", "vgg99",
                     "--output", str(tmp_path / "run")], capsys)
    assert code == 2 and "unknown backbone 'vgg99'" in err


def test_aesthetic_csv_with_wrong_columns_or_scale(tmp_path, capsys):
    (tmp_path / "a.jpg").write_bytes(b"")
    bad_columns = tmp_path / "cols.csv"
    bad_columns.write_text("file,rating\na.jpg,3\n")
    code, err = run(["train", "--aesthetic-data", f"csv:{bad_columns}", "--no-personality"], capsys)
    assert code == 2 and "missing column(s) path, score" in err
    raw_scale = tmp_path / "raw.csv"
    raw_scale.write_text("path,score\na.jpg,7.5\n")
    code, err = run(["train", "--aesthetic-data", f"csv:{raw_scale}", "--no-personality"], capsys)
    assert code == 2 and "score_range" in err


def test_checkpoint_from_another_architecture_via_cli(trained_run, tmp_path, capsys):
    import shutil

    from persona_iaa import build_model
    from persona_iaa.data.transforms import Preprocessing
    from persona_iaa.training.checkpoint import save_model

    other = tmp_path / "other"
    shutil.copytree(trained_run, other)
    save_model(tmp_path / "donor", build_model("tiny", hidden_dims=(8,)), Preprocessing())
    shutil.copy(tmp_path / "donor" / "model.safetensors", other / "model.safetensors")
    code, err = run(["score", "--checkpoint", str(other), str(other / "inter_task_weights.png")], capsys)
    assert code == 2 and "different architecture" in err
