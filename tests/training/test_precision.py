"""Mixed precision on CPU: fp32 and bf16 autocast (with channels-last) both train and evaluate."""
from __future__ import annotations

import json
import math

import pytest
import torch

from persona_iaa.cli import main
from persona_iaa.training.protocol import Trainer
from tests.helpers import tiny_config

from .training_helpers import one_thread, weights  # noqa: F401 (one_thread: autouse)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, demo_data):
    """fp32 (contiguous) and bf16 + channels-last runs, with what the first convolution produced."""
    root = tmp_path_factory.mktemp("precision")
    found = {}
    for name, overrides in {"fp32": (), "bf16": ("train.precision=bf16", "train.channels_last=true")}.items():
        trainer = Trainer(tiny_config(root / name, demo_data, *overrides))
        seen: list[tuple[torch.dtype, bool]] = []
        conv = trainer.model.backbone.features[0].conv0
        conv.register_forward_hook(lambda m, i, out, seen=seen: seen.append(
            (out.dtype, out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous())))
        found[name] = {"result": trainer.run(), "dir": root / name, "conv_outputs": set(seen)}
    return found


def test_bf16_autocast_and_channels_last_are_in_effect(runs):
    assert runs["fp32"]["conv_outputs"] == {(torch.float32, False)}
    assert runs["bf16"]["conv_outputs"] == {(torch.bfloat16, True)}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_precisions_train_and_evaluate(runs, precision, demo_data, capsys):
    run = runs[precision]
    assert run["result"]["training"]["precision"] == precision
    assert run["result"]["test"]["n"] == 24 and math.isfinite(run["result"]["test"]["rmse"])
    assert all(torch.isfinite(v).all() for v in weights(run["dir"]).values() if v.is_floating_point())
    assert main(["evaluate", "--checkpoint", str(run["dir"]), "--aesthetic-data", demo_data["aesthetic"],
                 "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    # `evaluate` runs in fp32; the run's own test pass ran under its autocast precision
    tolerance = 1e-5 if precision == "fp32" else 2e-3
    assert evaluated["n"] == 24
    assert evaluated["rmse"] == pytest.approx(run["result"]["test"]["rmse"], abs=tolerance)


def test_bf16_trains_a_different_model_than_fp32(runs):
    fp32, bf16 = weights(runs["fp32"]["dir"]), weights(runs["bf16"]["dir"])
    assert any(not torch.equal(fp32[k], bf16[k]) for k in fp32 if fp32[k].is_floating_point())


def test_fp16_needs_cuda(demo_data, tmp_path, capsys):
    config_file = tmp_path / "run.yaml"
    tiny_config(tmp_path / "run", demo_data).save(config_file)
    assert main(["train", "--config", str(config_file), "--precision", "fp16", "--device", "cpu"]) == 2
    assert "fp16 needs a CUDA device" in capsys.readouterr().err
