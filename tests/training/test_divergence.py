"""A non-finite loss stops training with the step named and the last good checkpoint kept."""
from __future__ import annotations

import csv

import pytest

from persona_iaa.cli import main
from persona_iaa.errors import TrainingError
from persona_iaa.training.checkpoint import load_latest_checkpoint
from persona_iaa.training.losses import Losses, aesthetic_loss
from persona_iaa.training.protocol import train
from tests.helpers import tiny_config

from .training_helpers import one_thread  # noqa: F401 (autouse fixture)


def test_nan_loss_names_the_step_and_keeps_the_last_good_checkpoint(demo_data, tmp_path):
    calls = [0]

    def poisoned(predicted, target):
        calls[0] += 1
        loss = aesthetic_loss(predicted, target)
        return loss * float("nan") if calls[0] == 5 else loss

    run_dir = tmp_path / "run"
    # Reports every 3 steps: the NaN of step 5 is found at step 6 and still named as step 5.
    config = tiny_config(run_dir, demo_data, "train.log_every=3", "train.checkpoint_every=2")
    with pytest.raises(TrainingError) as raised:
        train(config, losses=Losses(aesthetic=poisoned))
    message = str(raised.value)
    assert message.startswith("the aesthetic loss became nan at stage-1 step 5")
    assert "stage1-000000004.pt" in message and "--resume" in message and "\n" not in message
    path, state = load_latest_checkpoint(run_dir)
    assert path.name == "stage1-000000004.pt" and state["position"]["step"] == 4
    assert all(v.isfinite().all() for v in state["model"].values() if v.is_floating_point())
    assert not (run_dir / "model.safetensors").exists()
    with (run_dir / "steps.csv").open() as handle:
        assert [int(r["step"]) for r in csv.DictReader(handle)] == [2, 3, 4]

    # The kept checkpoint continues the run (the poisoned call is behind us now), with the lower
    # learning rate given: 0.05 decayed once to 0.045 becomes 0.01 decayed once.
    assert main(["train", "--resume", str(run_dir), "optim.lr_backbone=0.01"]) == 0
    assert (run_dir / "model.safetensors").is_file()
    with (run_dir / "steps.csv").open() as handle:
        rows = {int(r["step"]): float(r["lr_backbone"]) for r in csv.DictReader(handle)}
    assert rows[4] == pytest.approx(0.045) and rows[6] == pytest.approx(0.009)
