"""Model files: round trip, the Python API, and refusing a checkpoint of another architecture
(the model-file checks of models/io.py are in test_model_io.py)."""
from __future__ import annotations

import shutil

import pytest
import torch
from PIL import Image

import persona_iaa
from persona_iaa import build_model, load_model
from persona_iaa.data.transforms import Preprocessing
from persona_iaa.errors import ModelError
from persona_iaa.models.io import load_state, load_trained_model, save_model


def test_round_trip_gives_the_same_outputs(tmp_path):
    torch.manual_seed(1)
    model = build_model("tiny", hidden_dims=(32, 16)).eval()
    with torch.no_grad():
        model.inter_task.copy_(torch.linspace(-0.2, 0.2, 5))
    save_model(tmp_path, model, Preprocessing(48, 40))
    loaded, pre, meta = load_trained_model(tmp_path)
    batch = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        a, b = model(batch), loaded(batch)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)
    assert pre == Preprocessing(48, 40) and meta["inter_task_weights"]["O"] == pytest.approx(-0.2)


def test_load_model_scores_paths_and_pil_images(trained_run, tmp_path):
    predictor = load_model(trained_run, device="cpu")
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (60, 40), (10, 120, 200)).save(path)
    by_path, by_image = predictor.score([path, Image.open(path)])
    assert by_path.ok and by_image.ok
    assert by_path.score == pytest.approx(by_image.score, abs=1e-6)
    assert set(by_path.traits) == set(persona_iaa.TRAITS)
    w = predictor.inter_task_weights
    expected = by_path.aesthetic + sum(w[t] * by_path.traits[t] for t in persona_iaa.TRAITS)
    assert by_path.score == pytest.approx(expected, abs=1e-5)


def test_scores_do_not_depend_on_batch_size(trained_run, demo_data):
    from persona_iaa.inference.inputs import iter_image_paths

    folder = demo_data["aesthetic"].split(":", 1)[1] + "/datasetImages_warp256"
    paths = list(iter_image_paths([folder]))[:10]
    predictor = load_model(trained_run, device="cpu")
    one = [r.score for r in predictor.score(paths, batch_size=1)]
    many = [r.score for r in predictor.score(paths, batch_size=4)]
    assert one == pytest.approx(many, abs=1e-5)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    save_model(tmp_path, build_model("tiny", hidden_dims=(32,)), Preprocessing())
    with pytest.raises(ModelError, match="different architecture"):
        load_state(build_model("tiny", hidden_dims=(64,)), tmp_path / "model.safetensors")


def test_missing_or_foreign_model_files(tmp_path):
    with pytest.raises(ModelError, match="no trained model here"):
        load_model(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    (tmp_path / "model.json").write_text('{"format": "something-else"}')
    with pytest.raises(ModelError, match="not a persona-iaa model"):
        load_model(tmp_path)


def test_model_file_path_works_as_well_as_run_dir(trained_run, tmp_path):
    copy = tmp_path / "best"
    copy.mkdir()
    for name in ("model.safetensors", "model.json"):
        shutil.copy(trained_run / name, copy / name)
    assert load_model(copy / "model.safetensors", device="cpu").meta["model"]["backbone"] == "tiny"


def test_model_files_are_readable_by_the_group_as_the_umask_allows(tmp_path):
    import os

    previous = os.umask(0o022)
    try:
        save_model(tmp_path, build_model("tiny", hidden_dims=(8,)), Preprocessing())
    finally:
        os.umask(previous)
    for name in ("model.safetensors", "model.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
