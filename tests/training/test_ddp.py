"""Several processes (gloo on CPU) train the same model as one process with the same global batch."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from persona_iaa.cli import main
from persona_iaa.extras import has_module
from persona_iaa.models.pdmtl import build_model
from persona_iaa.training.distributed import shutdown_distributed
from persona_iaa.training.protocol import Trainer
from tests.helpers import tiny_config

from .training_helpers import as_rank, assert_same_weights, one_thread, run_ranks, use_one_thread  # noqa: F401 (one_thread: autouse)

SRC = Path(__file__).resolve().parents[2] / "src"
# Random crops and flips stay on: augmentation is seeded per sample, the same on any number of ranks.
DDP_OVERRIDES = ("data.image_size=32", "data.crop_size=28", "train.log_every=1")


def per_sample_norm(module: nn.Module) -> nn.Module:
    """BatchNorm -> GroupNorm(1): normalisation that does not look at the other images of the batch.

    On CPU each rank normalises with its own share of the batch (SyncBatchNorm needs CUDA), so only a
    batch-independent network can match one process to rounding error.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.GroupNorm(1, child.num_features))
        else:
            per_sample_norm(child)
    return module


def batch_independent_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return per_sample_norm(build_model("tiny", None, hidden_dims=[1024, 512]))


def train_rank(rank: int, world_size: int, port: int, config) -> int:
    as_rank(rank, world_size, port)
    use_one_thread()
    try:
        Trainer(config, model=batch_independent_model(config.train.seed)).run()
    finally:
        shutdown_distributed()
    return 0


def epoch_rows(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run_dir / "metrics.csv").open()))


def test_two_gloo_processes_match_one_process(demo_data, tmp_path):
    single = tiny_config(tmp_path / "single", demo_data, *DDP_OVERRIDES)
    single_result = Trainer(single, model=batch_independent_model(single.train.seed)).run()
    pair = tiny_config(tmp_path / "pair", demo_data, *DDP_OVERRIDES)
    assert run_ranks(train_rank, 2, pair) == [0, 0]

    pair_result = json.loads((tmp_path / "pair" / "test_metrics.json").read_text())
    assert pair_result["training"]["world_size"] == 2 and single_result["training"]["world_size"] == 1
    assert pair_result["test"]["n"] == single_result["test"]["n"] == 24  # gathered from both ranks, in order
    for key in ("srocc", "plcc", "rmse", "mae", "acc"):
        assert pair_result["test"][key] == pytest.approx(single_result["test"][key], abs=1e-4), key
    assert pair_result["inter_task_weights"] == pytest.approx(single_result["inter_task_weights"], abs=1e-6)
    lstsq = pair_result["stage2"]["lstsq_weights"], single_result["stage2"]["lstsq_weights"]
    assert lstsq[0] == pytest.approx(lstsq[1], abs=1e-4)
    rows = epoch_rows(tmp_path / "single"), epoch_rows(tmp_path / "pair")
    assert len(rows[0]) == len(rows[1]) == 5
    for one, two in zip(*rows):
        for key in ("loss_aesthetic", "loss_personality", "loss_final", "val_srocc"):
            if one[key]:
                assert float(two[key]) == pytest.approx(float(one[key]), rel=1e-4, abs=1e-6), key
    assert_same_weights(tmp_path / "single", tmp_path / "pair", atol=1e-4)


def test_torchrun_launches_the_cli_with_ddp(demo_data, tmp_path):
    """`torchrun --nproc-per-node 2 -m persona_iaa train` with the real tiny backbone (BatchNorm per rank)."""
    config_file = tmp_path / "pair.yaml"
    tiny_config(tmp_path / "pair", demo_data, *DDP_OVERRIDES).save(config_file)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "persona_iaa", "train", "--config", str(config_file)],
        env=env, capture_output=True, text=True, timeout=240)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("run directory:") == 1  # only rank 0 reports
    single_file = tmp_path / "single.yaml"
    tiny_config(tmp_path / "single", demo_data, *DDP_OVERRIDES).save(single_file)
    assert main(["train", "--config", str(single_file)]) == 0

    pair = json.loads((tmp_path / "pair" / "test_metrics.json").read_text())
    assert pair["training"]["world_size"] == 2 and pair["test"]["n"] == 24
    # only rank 0 writes TensorBoard events (when the package is there to write them)
    assert len(list((tmp_path / "pair" / "tensorboard").glob("events.*"))) == int(has_module("tensorboard"))
    # Per-rank BatchNorm statistics make the runs differ slightly, not in kind.
    rows = epoch_rows(tmp_path / "single"), epoch_rows(tmp_path / "pair")
    assert len(rows[0]) == len(rows[1]) == 5
    for one, two in zip(*rows):
        assert (one["stage"], one["epoch"], one["step"]) == (two["stage"], two["epoch"], two["step"])
        for key in ("loss_aesthetic", "loss_personality", "loss_final"):
            if one[key]:
                assert float(two[key]) == pytest.approx(float(one[key]), rel=0.1), key
