"""The paper configs are literal; every addition is a named switch that does what it says."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from torchvision.transforms import v2

from persona_iaa.config import Config, config_flags, load_config
from persona_iaa.data.transforms import Preprocessing, eval_geometry, eval_transform, train_transform
from persona_iaa.demo import builtin_config_path
from persona_iaa.errors import ConfigError
from persona_iaa.models.io import load_trained_model, save_model
from persona_iaa.models.pdmtl import build_model
from persona_iaa.training.protocol import (
    Trainer,
    augmented_outputs,
    check_training_config,
    load_run_data,
    run_losses,
)
from persona_iaa.training.stage2 import FrozenOutputs, SGDSettings, fit_lstsq, fit_sgd

from .helpers import tiny_config

#: Every switch with the paper's value: a paper config must spell each one out, with this value.
PAPER = {
    "model.heads": "paper", "data.hflip": False, "data.eval_geometry": "full",
    "data.personality_val_fraction": 0, "data.personality_test_fraction": 0,
    "loss.personality_reduction": "sum", "loss.personality_weight": 1.0,
    "train.select_metric": "last", "train.stage2_split": "train", "train.stage2_inputs": "augmented",
    "train.inter_task_solver": "sgd",
    "train.personality": True,
}
#: Dataset arguments for configs that are only loaded and checked, never trained.
DATA = ["data.aesthetic=csv:a.csv", "data.personality=csv:p.csv"]


def _get(config: Config, key: str):
    section, name = key.split(".")
    return getattr(getattr(config, section), name)


@pytest.mark.parametrize("name", ["ava", "aadb"])
def test_the_paper_configs_contain_no_addition(name):
    path = builtin_config_path(name)
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    config = load_config(path)
    for key, value in PAPER.items():
        section, field = key.split(".")
        if key != "train.personality":  # the default (true) is the paper's multi-task model
            assert field in written[section], f"{name}.yaml leaves {key} to a default"
        assert _get(config, key) == value, f"{name}.yaml: {key}={_get(config, key)!r}, not {value!r}"
    assert (config.data.image_size, config.data.crop_size, config.train.epochs) == (256, 224, 20)


@pytest.mark.parametrize("name", ["demo", "recommended"])
def test_the_other_configs_load_and_pass_the_checks(name, tmp_path):
    config = load_config(builtin_config_path(name), DATA)
    check_training_config(config)


def test_every_switch_is_a_train_flag():
    flags = {flag.key: flag for flag in config_flags()}
    for key in ("data.hflip", "data.eval_geometry", "train.select_metric", "train.stage2_split",
                "train.stage2_inputs",
                "loss.personality_reduction", "loss.personality_weight", "model.heads"):
        assert key in flags and flags[key].help
    assert "last" in flags["train.select_metric"].choices


@pytest.mark.parametrize("override, message", [
    ("model.heads=batchnorm", "model.heads must be one of"),
    ("data.eval_geometry=crop", "data.eval_geometry must be one of"),
    ("train.stage2_split=test", "train.stage2_split must be one of"),
    ("loss.personality_reduction=max", "loss.personality_reduction must be one of"),
])
def test_unknown_switch_values_are_clear_errors(override, message):
    config = load_config(builtin_config_path("demo"), [*DATA, override])
    with pytest.raises(ConfigError, match=message):
        check_training_config(config)


def _photo(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, 40, 52), generator=generator, dtype=torch.uint8)


def test_without_hflip_a_fixed_crop_is_deterministic():
    pre, image = Preprocessing(32, 32), _photo()  # crop == resize: one possible crop
    plain = [train_transform(pre, hflip=False)(image) for _ in range(12)]
    assert all(torch.equal(plain[0], other) for other in plain[1:])
    torch.manual_seed(0)
    flipping = [train_transform(pre, hflip=True)(image) for _ in range(12)]
    assert any(torch.equal(out, plain[0].flip(-1)) for out in flipping)


def test_full_eval_geometry_resizes_the_whole_image_to_the_crop_size():
    crop, full = Preprocessing(48, 32), Preprocessing(48, 32, geometry="full")
    image = _photo(1)
    whole = torch.nn.functional.interpolate(image[None].float(), size=(32, 32), mode="bilinear",
                                            antialias=True, align_corners=False)[0]
    got = eval_geometry(full)(image)
    assert got.shape == (3, 32, 32) and (got.float() - whole).abs().max() <= 1.0
    assert not torch.equal(got, eval_geometry(crop)(image))
    assert eval_transform(full)(image).shape == (3, 32, 32)
    assert Preprocessing.from_dict(full.to_dict()) == full
    old = {k: v for k, v in full.to_dict().items() if k != "geometry"}  # a file from before the switch
    assert Preprocessing.from_dict(old).geometry == "center_crop"


def test_personality_reduction_mean_is_the_sum_over_five(tmp_path):
    predicted, target = torch.rand(6, 5) * 2 - 1, torch.rand(6, 5) * 2 - 1
    losses = {}
    for reduction in ("sum", "mean"):
        config = tiny_config(tmp_path, {"aesthetic": "csv:a", "personality": "csv:p"},
                             f"loss.personality_reduction={reduction}", "loss.personality_weight=3")
        losses[reduction] = float(run_losses(config).personality(predicted, target))
    assert losses["mean"] == pytest.approx(losses["sum"] / 5, rel=1e-6)
    plain = tiny_config(tmp_path, {"aesthetic": "csv:a", "personality": "csv:p"})
    unweighted = float(run_losses(plain).personality(predicted, target))
    assert losses["sum"] == pytest.approx(3 * unweighted, rel=1e-6)


def test_personality_fractions_zero_train_on_every_personality_record(demo_data, tmp_path):
    paper = tiny_config(tmp_path, demo_data, "data.personality_val_fraction=0",
                        "data.personality_test_fraction=0")
    _, personality = load_run_data(paper)
    assert personality is not None and not personality.splits["val"] and not personality.splits["test"]
    assert len(personality.splits["train"]) == len(personality.source.records)
    aesthetic, carved = load_run_data(tiny_config(tmp_path, demo_data))  # the demo holds out a share
    assert aesthetic.splits["val"] and carved is not None and carved.splits["test"]


def test_last_epoch_kept_and_stage2_on_validation_outputs(demo_data, tmp_path):
    config = tiny_config(tmp_path / "run", demo_data, "train.epochs=2", "train.select_metric=last",
                         "train.stage2_split=val", "train.inter_task_solver=lstsq", "data.hflip=false")
    trainer = Trainer(config)
    steps = trainer.loader(trainer.aesthetic, "train", True).dataset.transform.transforms
    assert not any(isinstance(step, v2.RandomHorizontalFlip) for step in steps)
    result = trainer.run()
    assert result["best_epoch"] == 2
    outputs = {}
    for split in ("train", "val"):
        pred = trainer.predict_split(trainer.aesthetic, split, split)
        outputs[split] = fit_lstsq(FrozenOutputs(*(np.asarray(x, dtype=np.float32) for x in (
            pred.aesthetic, pred.personality, pred.target[:, 0])))).weights
    fitted = np.array(list(result["stage2"]["lstsq_weights"].values()))
    assert np.allclose(fitted, outputs["val"], atol=1e-5)
    assert not np.allclose(fitted, outputs["train"], atol=1e-5)


def test_pa_iaa_heads_are_built_and_survive_save_and_load(tmp_path):
    model = build_model("tiny", hidden_dims=(8,), heads="pa-iaa")
    kinds = [type(layer) for layer in model.personality_head]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.PReLU, nn.Dropout, nn.Linear, nn.BatchNorm1d, nn.Tanh]
    assert [type(layer) for layer in model.aesthetic_head][-2:] == [nn.Linear, nn.Sigmoid]
    assert all(layer.p == 0.5 for layer in model.modules() if isinstance(layer, nn.Dropout))
    paper = build_model("tiny", hidden_dims=(8,))
    assert not any(isinstance(layer, (nn.BatchNorm1d, nn.Dropout)) for layer in paper.personality_head)
    with torch.no_grad():  # non-trivial running statistics, so a load that lost them would show
        for layer in model.modules():
            if isinstance(layer, nn.BatchNorm1d):
                layer.running_mean.uniform_(-0.5, 0.5)
                layer.running_var.uniform_(0.5, 2.0)
    save_model(tmp_path, model, Preprocessing(40, 32, geometry="full"))
    loaded, pre, meta = load_trained_model(tmp_path)
    assert meta["model"]["heads"] == "pa-iaa" and loaded.spec == model.spec and pre.geometry == "full"
    images = torch.rand(3, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(images).personality, model(images).personality, atol=1e-6)
    assert dataclasses.replace(model.spec, heads="paper") == paper.spec


def test_sgd_takes_each_epochs_outputs_when_stage2_inputs_are_augmented():
    rng = np.random.default_rng(0)

    def world(shift: float) -> FrozenOutputs:
        personality = rng.uniform(-1, 1, (40, 5)).astype(np.float32)
        aesthetic = rng.uniform(0, 1, 40).astype(np.float32)
        return FrozenOutputs(aesthetic, personality, aesthetic + shift * personality[:, 0])

    frozen, seen = world(0.0), []

    def epoch_outputs(epoch: int) -> FrozenOutputs:
        seen.append(epoch)
        return world(0.5)

    settings = SGDSettings(epochs=3, batch_size=8, lr=0.5)
    plain = fit_sgd(frozen, settings, seed=0).weights
    augmented = fit_sgd(frozen, settings, seed=0, epoch_outputs=epoch_outputs).weights
    assert seen == [1, 2, 3]
    assert abs(plain[0]) < 1e-6 and augmented[0] > 0.1  # only the epochs' outputs carry the O effect


def test_augmented_stage2_inputs_are_seeded_by_epoch(demo_data, tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run", demo_data, "train.stage2_inputs=augmented"))
    outputs = augmented_outputs(trainer, "train")
    first, again, second = outputs(1), outputs(1), outputs(2)
    assert np.array_equal(first.aesthetic, again.aesthetic) and np.array_equal(first.target, again.target)
    assert not np.array_equal(first.aesthetic, second.aesthetic)
    frozen = trainer.predict_split(trainer.aesthetic, "train", "frozen")
    assert np.allclose(np.sort(first.target), np.sort(frozen.target[:, 0]))
    assert not np.allclose(first.aesthetic, frozen.aesthetic)
