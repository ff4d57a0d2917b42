"""Resume: a run killed at any moment (SIGKILL included) continues to the weights of an uninterrupted run.

Each interrupted run is a child process whose loss or writer function delivers the signal at a known
call; `persona-iaa train --resume RUN_DIR` then finishes it in this process.
"""
from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest
import torch

from persona_iaa.cli import main
from persona_iaa.training.checkpoint import checkpoint_paths, load_latest_checkpoint
from tests.helpers import tiny_config

from .training_helpers import Interrupt, assert_same_weights, one_thread, train_interrupted  # noqa: F401 (one_thread: autouse)

# 48 aesthetic training images in batches of 16: 3 steps per epoch, 6 in stage 1; stage 2 has 3 epochs
# of 3 steps.
RESUME_OVERRIDES = ("train.log_every=1", "train.checkpoint_every=2", "train.keep_last=2")


def write_config(tmp_path: Path, demo_data, name: str, *extra: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    tiny_config(tmp_path / name, demo_data, *RESUME_OVERRIDES, *extra).save(path)
    return path


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, demo_data) -> Path:
    """The same configuration trained without interruption."""
    tmp_path = tmp_path_factory.mktemp("reference")
    assert main(["train", "--config", str(write_config(tmp_path, demo_data, "run"))]) == 0
    return tmp_path / "run"


def steps_logged(run_dir: Path) -> list[int]:
    with (run_dir / "steps.csv").open() as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


@pytest.mark.parametrize("interrupt, exit_code, resume_flags", [
    # SIGKILL in epoch 2 of stage 1, after the checkpoint of step 4: resumes mid-epoch, now with worker
    # processes loading the data (augmentation is seeded per sample, so that changes nothing)
    (Interrupt("loss.aesthetic", 5, signal.SIGKILL), -signal.SIGKILL, ["--workers", "2"]),
    # SIGKILL in stage-2 epoch 2
    (Interrupt("loss.final", 5, signal.SIGKILL), -signal.SIGKILL, []),
    # SIGKILL while the third checkpoint is written: only a temporary file is left
    (Interrupt("checkpoint.atomic_write", 3, signal.SIGKILL, cut_write=True), -signal.SIGKILL, []),
    # SIGTERM at step 2 of stage 1: checkpoint saved, exit 128 + 15
    (Interrupt("loss.aesthetic", 2, signal.SIGTERM), 128 + signal.SIGTERM, []),
    # SIGINT (Ctrl-C) in stage 2: checkpoint saved at the end of the stage-2 epoch, exit 128 + 2
    (Interrupt("loss.final", 4, signal.SIGINT), 128 + signal.SIGINT, []),
], ids=["kill-stage1", "kill-stage2", "kill-during-checkpoint-write", "sigterm-stage1", "sigint-stage2"])
def test_interrupted_run_resumes_to_the_uninterrupted_weights(interrupt, exit_code, resume_flags,
                                                              reference_run, demo_data, tmp_path):
    config_file = write_config(tmp_path, demo_data, "run")
    run_dir = tmp_path / "run"
    assert train_interrupted(config_file, interrupt) == exit_code
    assert not (run_dir / "model.safetensors").exists()
    saved = load_latest_checkpoint(run_dir)
    assert saved is not None, "no checkpoint survived"
    if interrupt.signum != signal.SIGKILL:  # the signal's own checkpoint is the newest
        if "aesthetic" in interrupt.function:
            assert saved[1]["stage"] == 1 and saved[1]["position"]["step"] == interrupt.call
        else:
            assert saved[1]["stage"] == 2 and saved[1]["epoch"] == 2

    assert main(["train", "--resume", str(run_dir), *resume_flags]) == 0
    assert_same_weights(run_dir, reference_run)
    assert steps_logged(run_dir) == steps_logged(reference_run) == [1, 2, 3, 4, 5, 6]
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    epochs = [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2"), ("2", "3")]
    assert [(r["stage"], r["epoch"]) for r in rows] == epochs
    assert not list((run_dir / "checkpoints").glob(".*")), "temporary checkpoint files left behind"
    assert len(checkpoint_paths(run_dir)) == 2  # train.keep_last


def test_checkpoint_holds_the_whole_training_state(reference_run):
    path, state = load_latest_checkpoint(reference_run)
    assert path.name == "stage2-000000003.pt" and state["stage"] == 2 and state["epoch"] == 3
    for key in ("model", "optimizer", "scheduler", "rng", "history", "frozen"):
        assert key in state
    assert set(state["rng"][0]) >= {"python", "numpy", "torch"}
    assert state["frozen"]["personality"].shape == (48, 5)
    first = checkpoint_paths(reference_run)[0]
    stage1 = torch.load(first, weights_only=True)  # loadable without trusting pickled code
    assert stage1["format"] == "persona-iaa/checkpoint"


def test_resume_needs_a_run_directory(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_resume_refuses_another_global_batch(reference_run, tmp_path, capsys, demo_data):
    config_file = write_config(tmp_path, demo_data, "run")
    interrupt = Interrupt("loss.aesthetic", 3, signal.SIGKILL)
    assert train_interrupted(config_file, interrupt) == -signal.SIGKILL
    assert main(["train", "--resume", str(tmp_path / "run"), "--batch-size", "8"]) == 2
    assert "data.batch_size=16, not 8" in capsys.readouterr().err


def test_a_single_process_stops_at_the_step_the_signal_arrived(demo_data, tmp_path):
    """No report is due at step 4 (reports every 50 steps): one process needs no agreement, it stops there.

    SIGTERM arrives while the epoch-end checkpoint of step 3 is written; `persona-iaa train` exits 128 + 15.
    """
    config_file = tmp_path / "run.yaml"
    tiny_config(tmp_path / "run", demo_data, "train.log_every=50").save(config_file)
    interrupt = Interrupt("checkpoint.atomic_write", 1, signal.SIGTERM)
    assert train_interrupted(config_file, interrupt) == 128 + signal.SIGTERM
    path, state = load_latest_checkpoint(tmp_path / "run")
    assert path.name == "stage1-000000004.pt" and state["position"]["batch"] == 1
