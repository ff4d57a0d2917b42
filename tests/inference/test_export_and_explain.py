"""Exported ONNX / TorchScript models match PyTorch; `score --engine onnx` runs them; explain draws maps."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from persona_iaa.cli import main
from persona_iaa.constants import TRAITS
from persona_iaa.data.images import open_image
from persona_iaa.data.transforms import eval_transform
from persona_iaa.inference.explain import TARGETS, explain_image
from persona_iaa.inference.export import exported_outputs, read_export_metadata
from persona_iaa.training.checkpoint import load_trained_model

from .scoring_files import write_jpegs

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("fmt, name", [("onnx", "model.onnx"), ("torchscript", "model.torchscript.pt")])
def test_exported_models_match_pytorch_on_real_images(trained_run, tmp_path, fmt, name, capsys):
    path = tmp_path / name
    assert main(["export", "--checkpoint", str(trained_run), "--format", fmt, "--output", str(path)]) == 0
    assert "largest difference from PyTorch" in capsys.readouterr().out
    model, preprocessing, _ = load_trained_model(trained_run, "cpu")
    transform = eval_transform(preprocessing)
    batch = torch.stack([transform(open_image(p)) for p in write_jpegs(tmp_path / "img", 5)])
    with torch.no_grad():
        expected = model(batch)
    for got, want in zip(exported_outputs(path, fmt, batch), expected):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-4)
    meta = read_export_metadata(path)
    assert meta["preprocessing"] == preprocessing.to_dict()
    assert meta["outputs"] == ["score", "aesthetic", "personality"]
    assert meta["traits"] == list(TRAITS)


def test_export_defaults_to_the_run_directory_and_score_uses_it(trained_run, tmp_path, image_kinds):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("model.safetensors", "model.json"):
        (run / name).write_bytes((trained_run / name).read_bytes())
    assert main(["export", "--checkpoint", str(run), "--format", "onnx"]) == 0
    assert (run / "model.onnx").stat().st_size > 10_000
    files = [str(p) for p in image_kinds.values()]
    results = {}
    for engine in ("torch", "onnx"):
        out = tmp_path / f"{engine}.csv"
        args = ["score", "--checkpoint", str(run), *files, "--output", str(out), "--engine", engine]
        assert main(args) == 3
        results[engine] = list(csv.DictReader(out.open()))
    for onnx_row, torch_row in zip(results["onnx"], results["torch"]):
        assert onnx_row["path"] == torch_row["path"] and onnx_row["error"] == torch_row["error"]
        for column in ("score", "aesthetic", *TRAITS):
            if torch_row[column]:
                assert float(onnx_row[column]) == pytest.approx(float(torch_row[column]), abs=1e-4)


def test_explain_writes_maps_for_the_score_and_every_trait(trained_run, tmp_path, capsys):
    image = Image.new("RGB", (64, 64), (30, 30, 30))
    image.paste((250, 220, 40), (8, 8, 30, 30))
    path = tmp_path / "photo.png"
    image.save(path)
    model, preprocessing, _ = load_trained_model(trained_run, "cpu")
    explanation = explain_image(model, preprocessing, path)
    assert list(explanation.maps) == list(TARGETS) == ["score", *TRAITS]
    for heat in explanation.maps.values():
        assert heat.shape == (preprocessing.crop_size,) * 2 and np.isfinite(heat).all()
        assert heat.min() >= 0 and heat.max() <= 1
    assert any(heat.max() == pytest.approx(1.0) for heat in explanation.maps.values())
    with torch.no_grad():
        direct = model(eval_transform(preprocessing)(open_image(path))[None])
    assert explanation.score == pytest.approx(float(direct.score), abs=1e-5)
    figure = tmp_path / "heat.png"
    assert main(["explain", "--checkpoint", str(trained_run), str(path), "--output", str(figure)]) == 0
    assert "score" in capsys.readouterr().out
    with Image.open(figure) as drawn:
        assert drawn.width > 800 and drawn.height > 400


def test_explain_of_a_broken_file_is_a_usage_error(trained_run, image_kinds, tmp_path, capsys):
    code = main(["explain", "--checkpoint", str(trained_run), str(image_kinds["bad_truncated"]),
                 "--output", str(tmp_path / "heat.png")])
    assert code == 2 and "truncated" in capsys.readouterr().err
