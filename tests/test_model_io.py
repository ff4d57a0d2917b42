"""Model files (models/io.py): every model the public API builds round-trips; damaged, malformed or
fetching model files are refused in one line per problem before anything large is allocated; an ONNX
export beside the weights is used only when it was made from them."""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from persona_iaa import build_model, load_model
from persona_iaa.cli import main
from persona_iaa.constants import IMAGENET_MEAN
from persona_iaa.data.images import open_image
from persona_iaa.data.transforms import Preprocessing, eval_transform
from persona_iaa.errors import ModelError
from persona_iaa.models import io
from persona_iaa.models.backbones import Backbone, create_backbone
from persona_iaa.models.io import load_trained_model, save_model, state_digest
from persona_iaa.models.pdmtl import PersonalityDrivenIAA


def timm_test_model() -> str:
    """A timm architecture (370k parameters), pretrained with mean/std 0.5."""
    timm = pytest.importorskip("timm")
    if not timm.is_model("test_resnet"):
        pytest.skip("this timm has no test_resnet")
    return "timm:test_resnet"


def randomised(model: PersonalityDrivenIAA, seed: int = 0) -> PersonalityDrivenIAA:
    torch.manual_seed(seed)
    with torch.no_grad():
        model.inter_task.copy_(torch.randn(5) * 0.3)
    return model.eval()


def saved_tiny(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    save_model(folder, randomised(build_model("tiny", hidden_dims=(8,)), seed), Preprocessing(48, 40))
    return folder


def edit_meta(run: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    """Apply ``change`` to model.json in place; a list it returns replaces the whole file."""
    meta = json.loads((run / "model.json").read_text())
    replaced = change(meta)
    (run / "model.json").write_text(json.dumps(replaced if isinstance(replaced, list) else meta))


def outputs(model: torch.nn.Module, crop: int) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(5)
    with torch.no_grad():
        return tuple(model(torch.randn(2, 3, crop, crop)))


BUILDS: dict[str, Callable[[], PersonalityDrivenIAA]] = {
    "build_model": lambda: build_model("tiny", hidden_dims=(8, 4)),
    "PersonalityDrivenIAA(create_backbone(...))": lambda: PersonalityDrivenIAA(create_backbone("tiny"), (8,)),
    "torchvision": lambda: build_model("mobilenet_v2", hidden_dims=(8,)),
    "timm": lambda: build_model(timm_test_model(), hidden_dims=(8,)),
}


@pytest.mark.parametrize("how", list(BUILDS))
def test_every_model_the_public_api_builds_saves_and_loads_again(tmp_path, how):
    model = randomised(BUILDS[how]())
    save_model(tmp_path, model)
    loaded, preprocessing, meta = load_trained_model(tmp_path)
    assert (loaded.spec, loaded.preprocessing, loaded.backbone_weights) == (
        model.spec, model.preprocessing, model.backbone_weights)
    assert preprocessing == model.preprocessing and meta["state_sha256"] == state_digest(model.state_dict())
    for mine, theirs in zip(outputs(model, 64), outputs(loaded, 64)):
        torch.testing.assert_close(mine, theirs)


def test_spec_provenance_and_preprocessing_are_constructor_fields(tmp_path):
    reference = create_backbone("tiny")
    state = {f"features.{k.removeprefix('0.')}": v for k, v in reference.features.state_dict().items()}
    torch.save(state, tmp_path / "tiny.pth")
    custom = Preprocessing(40, 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    backbone = create_backbone("tiny", str(tmp_path / "tiny.pth"))
    model = PersonalityDrivenIAA(backbone, (8,), preprocessing=custom)
    assert model.spec.backbone == "tiny" and model.backbone_weights == str(tmp_path / "tiny.pth")
    save_model(tmp_path / "run", model)
    loaded, preprocessing, _ = load_trained_model(tmp_path / "run")
    assert preprocessing == loaded.preprocessing == custom
    assert loaded.backbone_weights == str(tmp_path / "tiny.pth")


def test_a_hand_assembled_backbone_is_refused_when_saving(tmp_path):
    model = PersonalityDrivenIAA(Backbone(torch.nn.Conv2d(3, 4, 3), 4), (8,))
    with pytest.raises(ModelError, match="register_backbone") as info:
        save_model(tmp_path, model)
    assert "\n" not in str(info.value) and not list(tmp_path.iterdir())


# -- timm preprocessing ------------------------------------------------------------------------------
def test_timm_backbone_takes_mean_std_and_input_size_from_its_pretrained_config(tmp_path):
    name = timm_test_model()
    import timm
    from timm.data import resolve_data_config

    config = resolve_data_config({}, model=timm.create_model(name.removeprefix("timm:"), pretrained=False))
    model = randomised(build_model(name, hidden_dims=(8,)))
    pre = model.preprocessing
    assert pre.mean == tuple(config["mean"]) != IMAGENET_MEAN and pre.std == tuple(config["std"])
    assert pre.crop_size == config["input_size"][-1]
    assert pre.image_size == math.floor(config["input_size"][-1] / config["crop_pct"])
    # recorded in the model file, and what scoring feeds the model
    save_model(tmp_path, model)
    assert json.loads((tmp_path / "model.json").read_text())["preprocessing"]["mean"] == list(config["mean"])
    photo = tmp_path / "photo.png"
    Image.new("RGB", (90, 70), (200, 40, 90)).save(photo)
    predictor = load_model(tmp_path, device="cpu", engine="torch", workers=0)
    assert predictor.preprocessing == pre
    with torch.no_grad():
        expected = model(eval_transform(pre)(open_image(photo))[None]).score
    assert next(iter(predictor.score([photo]))).score == pytest.approx(float(expected), abs=1e-4)


def test_training_uses_the_backbones_statistics_at_the_configured_sizes(tmp_path, demo_data):
    from persona_iaa.training.protocol import Trainer

    from .helpers import tiny_config

    custom = Preprocessing(40, 32, (0.5, 0.4, 0.3), (0.2, 0.3, 0.4))
    model = PersonalityDrivenIAA(create_backbone("tiny"), (8,), preprocessing=custom)
    trainer = Trainer(tiny_config(tmp_path / "run", demo_data), model=model)
    assert (trainer.pre.mean, trainer.pre.std) == (custom.mean, custom.std)
    assert (trainer.pre.image_size, trainer.pre.crop_size) == (32, 28)  # the run's sizes, from its config


# -- item 13: a model file names no hub id and no folder ---------------------------------------------
@pytest.mark.parametrize("backbone", ["timm:hf-hub:someone/some-model", "timm:local-dir:/tmp/model"])
def test_a_model_file_naming_a_hub_or_a_folder_is_refused_without_reading_it(tmp_path, monkeypatch, backbone):
    timm = pytest.importorskip("timm")

    def contacted(*args, **kwargs):
        raise AssertionError("timm.create_model was called")

    monkeypatch.setattr(timm, "create_model", contacted)
    run = saved_tiny(tmp_path)
    edit_meta(run, lambda meta: meta["model"].update(backbone=backbone))
    with pytest.raises(ModelError, match="model.backbone: .*timm architecture"):
        load_trained_model(run)
    with pytest.raises(ModelError, match="timm architecture") as info:
        build_model(backbone)
    assert "\n" not in str(info.value)


# -- item 10: integrity --------------------------------------------------------------------------------
def test_a_flipped_bit_in_the_weights_is_refused(tmp_path):
    run = saved_tiny(tmp_path)
    path = run / "model.safetensors"
    data = bytearray(path.read_bytes())
    header = int.from_bytes(data[:8], "little")
    position = 8 + header + (len(data) - 8 - header) // 2
    data[position] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="do not match the hash"):
        load_model(run, device="cpu")


def test_a_non_finite_weight_is_an_error_even_with_a_matching_hash(tmp_path):
    run = saved_tiny(tmp_path)
    state = {k: v.clone() for k, v in build_model("tiny", hidden_dims=(8,)).state_dict().items()}
    state["inter_task"][2] = float("inf")
    save_file(state, str(run / "model.safetensors"))
    edit_meta(run, lambda meta: meta.update(state_sha256=state_digest(state)))
    with pytest.raises(ModelError, match="'inter_task' holds NaN or infinite"):
        load_trained_model(run)


def test_a_model_with_nan_weights_is_not_saved(tmp_path):
    model = build_model("tiny", hidden_dims=(8,))
    with torch.no_grad():
        model.aesthetic_head[0].weight[0, 0] = float("nan")
    with pytest.raises(ModelError, match="holds NaN"):
        save_model(tmp_path, model)
    assert not (tmp_path / "model.safetensors").exists()


def test_a_model_file_from_before_the_hash_still_loads_with_a_warning(tmp_path, caplog):
    run = saved_tiny(tmp_path)
    edit_meta(run, lambda meta: meta.pop("state_sha256"))
    with caplog.at_level(logging.WARNING, logger="persona_iaa.models.io"):
        load_trained_model(run)
    assert "no weights hash" in caplog.text


# -- item 11: a schema for model.json -------------------------------------------------------------------
def _set(section: str, **values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta[section].update(values)


MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "negative hidden_dims": (_set("model", hidden_dims=[-8]), r"model\.hidden_dims\[0\]"),
    "float hidden_dims": (_set("model", hidden_dims=[8.5]), r"model\.hidden_dims\[0\]"),
    "string hidden_dims": (_set("model", hidden_dims="8"), r"model\.hidden_dims"),
    "a list as the whole file": (lambda meta: [meta], "not a persona-iaa model file"),
    "missing model section": (lambda meta: meta.pop("model"), "model: Field required"),
    "missing preprocessing": (lambda meta: meta.pop("preprocessing"), "preprocessing: Field required"),
    "null backbone": (_set("model", backbone=None), r"model\.backbone"),
    "std 0": (_set("preprocessing", std=[0, 0.2, 0.2]), r"preprocessing\.std\[0\]"),
    "negative image_size": (_set("preprocessing", image_size=-48), r"preprocessing\.image_size"),
    "NaN in mean": (_set("preprocessing", mean=[float("nan"), 0.4, 0.4]), r"preprocessing\.mean\[0\]"),
    "image_size 60000": (_set("preprocessing", image_size=60000), r"preprocessing\.image_size"),
    "crop larger than image": (_set("preprocessing", crop_size=64), "crop_size 64 is larger than image_size"),
    "one-value mean": (_set("preprocessing", mean=[0.5]), r"preprocessing\.mean"),
    "huge hidden_dims": (_set("model", hidden_dims=[16384, 16384]), "different architecture"),
    "traits in another order": (lambda meta: meta.update(traits=meta["traits"][::-1]), "traits"),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_model_json_is_one_clear_error(tmp_path, kind):
    change, expected = MALFORMED[kind]
    run = saved_tiny(tmp_path)
    edit_meta(run, change)
    with pytest.raises(ModelError, match=expected) as info:
        load_trained_model(run)
    assert all(line.startswith("  ") for line in str(info.value).splitlines()[1:])  # one line per problem


def test_every_problem_is_reported_on_a_line_of_its_own(tmp_path, capsys):
    run = saved_tiny(tmp_path)
    edit_meta(run, lambda meta: (_set("model", hidden_dims=[0])(meta),
                                 _set("preprocessing", std=[1, 1], image_size=-1)(meta)))
    assert main(["export", "--checkpoint", str(run), "--format", "onnx"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("error: ") and "3 problem" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "model.hidden_dims[0]", "preprocessing.image_size", "preprocessing.std"]


def test_shapes_are_compared_with_the_weights_before_any_real_tensor_is_made(tmp_path, monkeypatch):
    run = saved_tiny(tmp_path)
    edit_meta(run, _set("model", hidden_dims=[4096, 4096]))
    devices = []
    real = io.PersonalityDrivenIAA

    def recording(*args: Any, **kwargs: Any) -> PersonalityDrivenIAA:
        devices.append(torch.empty(0).device.type)
        return real(*args, **kwargs)

    monkeypatch.setattr(io, "PersonalityDrivenIAA", recording)
    with pytest.raises(ModelError, match="different architecture"):
        load_trained_model(run)
    assert devices == ["meta"]


# -- item 12: an ONNX export is bound to its weights ------------------------------------------------------
def test_an_onnx_file_exported_from_other_weights_is_not_used(tmp_path):
    from persona_iaa.inference.export import bound_export, export_model, read_export_metadata

    run_a, run_b = saved_tiny(tmp_path / "a", seed=1), saved_tiny(tmp_path / "b", seed=2)
    model_a, pre, meta_a = load_trained_model(run_a)
    model_b, _, _ = load_trained_model(run_b)
    # a stale export of a beside b's weights, and newer than them
    exported = export_model(model_a, pre, "onnx", run_b / "model.onnx")
    past = (run_b / "model.safetensors").stat().st_mtime - 3600
    os.utime(run_b / "model.safetensors", (past, past))
    assert read_export_metadata(exported)["state_sha256"] == meta_a["state_sha256"]
    assert bound_export(model_b, run_b) is None and bound_export(model_a, run_b) == exported

    photo = tmp_path / "photo.png"
    Image.new("RGB", (60, 50), (30, 160, 220)).save(photo)
    batch = eval_transform(pre)(open_image(photo))[None]
    with torch.no_grad():
        want, stale = float(model_b(batch).score), float(model_a(batch).score)
    assert want != pytest.approx(stale, abs=1e-3)  # the two models tell apart
    got = next(iter(load_model(run_b, device="cpu", engine="onnx", workers=0).score([photo]))).score
    assert got == pytest.approx(want, abs=1e-4)
