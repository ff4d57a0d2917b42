"""Bad input ends in one clear line on stderr and exit status 2, never a traceback."""
from __future__ import annotations

import pytest

from persona_iaa.cli import main


def run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("argv, expected", [
    (["train", "--aesthetic-data", "aadb:/no/such/AADB", "--no-personality", "--backbone", "tiny"],
     "does not exist"),
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
    code, err = run(["train", "--aesthetic-data", demo_data["aesthetic"], "--no-personality",
                     "--backbone", "vgg99",
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


def _photo(path):
    from PIL import Image

    Image.new("RGB", (40, 30), (120, 80, 40)).save(path)
    return path


def _no_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.mark.parametrize("device, expected", [
    ("bogus", "unknown device 'bogus'"), ("gpu", "unknown device 'gpu'"), ("cuda", "no CUDA GPU"),
    ("cuda:3", "no CUDA GPU"),
])
@pytest.mark.parametrize("command", ["score", "evaluate", "explain", "train"])
def test_a_device_this_machine_lacks_is_one_line(command, device, expected, trained_run, demo_data, tmp_path,
                                                 capsys, monkeypatch):
    _no_gpu(monkeypatch)
    photo = str(_photo(tmp_path / "photo.png"))
    argv = {
        "score": ["score", "--checkpoint", str(trained_run), photo],
        "evaluate": ["evaluate", "--checkpoint", str(trained_run),
                     "--aesthetic-data", demo_data["aesthetic"]],
        "explain": ["explain", "--checkpoint", str(trained_run), photo, "--output", str(tmp_path / "x.png")],
        "train": ["train", "--aesthetic-data", demo_data["aesthetic"], "--no-personality",
                  "--backbone", "tiny",
                  "--output", str(tmp_path / "run")],
    }[command]
    code, err = run(argv + ["--device", device], capsys)
    assert code == 2 and err.startswith("error: ") and expected in err and "\n" not in err


@pytest.mark.parametrize("argv, expected", [
    (["--port", "99999"], "--port 99999"),
    (["--port", "-1"], "--port -1"),
    (["--max-upload-mb", "0"], "--max-upload-mb 0"),
    (["--max-upload-mb", "-5"], "--max-upload-mb -5"),
    (["--max-upload-mb", "nan"], "--max-upload-mb nan"),
])
def test_serve_settings_that_cannot_work_are_refused_in_one_line(argv, expected, trained_run, capsys,
                                                                  monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server should not start"))
    code, err = run(["serve", "--checkpoint", str(trained_run), *argv], capsys)
    assert code == 2 and err.startswith("error: ") and expected in err and "\n" not in err


def test_score_keeps_an_existing_result_file_unless_told(trained_run, tmp_path, capsys):
    photo = str(_photo(tmp_path / "photo.png"))
    out = tmp_path / "scores.csv"
    out.write_text("path,score\nearlier.jpg,0.5\n")
    code, err = run(["score", "--checkpoint", str(trained_run), photo, "--output", str(out)], capsys)
    assert code == 2 and "already holds results" in err and "--overwrite" in err and "\n" not in err
    assert out.read_text() == "path,score\nearlier.jpg,0.5\n"
    assert main(["score", "--checkpoint", str(trained_run), photo, "--output", str(out), "--overwrite"]) == 0
    assert "earlier.jpg" not in out.read_text() and photo in out.read_text()
    code, err = run(["score", "--checkpoint", str(trained_run), photo, "--output", str(out), "--resume",
                     "--overwrite"], capsys)
    assert code == 2 and "choose one" in err


def test_score_refuses_a_parquet_run_left_unfinished(trained_run, tmp_path, capsys):
    from persona_iaa.inference.writers import journal_path

    out = tmp_path / "scores.parquet"
    journal_path(out).write_text('{"path": "earlier.jpg"}\n')
    code, err = run(["score", "--checkpoint", str(trained_run), str(_photo(tmp_path / "p.png")),
                     "--output", str(out)], capsys)
    assert code == 2 and "already holds results" in err
    assert journal_path(out).read_text().startswith('{"path"')


def test_scoring_a_folder_without_images_is_an_error(trained_run, tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("no image here")
    out = tmp_path / "scores.csv"
    code, err = run(["score", "--checkpoint", str(trained_run), str(folder), "--output", str(out)], capsys)
    assert code == 2 and "no images found" in err and str(folder) in err and "\n" not in err
    assert not out.exists()


def test_a_path_list_that_is_not_utf8_is_one_line(trained_run, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_bytes("photo-\u00e9t\u00e9.jpg\n".encode("latin-1"))
    code, err = run(["score", "--checkpoint", str(trained_run), f"@{listing}"], capsys)
    assert code == 2 and err.startswith("error: ") and "not UTF-8" in err and "\n" not in err
