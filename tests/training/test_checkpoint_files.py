"""Training checkpoints that are damaged, foreign or from an earlier layout: caught, worded, never lost."""
from __future__ import annotations

import logging

import pytest
import torch

from persona_iaa.cli import main
from persona_iaa.errors import TrainingError
from persona_iaa.training.checkpoint import (
    CHECKPOINT_FORMAT,
    UnreadableCheckpoint,
    checkpoint_paths,
    load_latest_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from persona_iaa.training.losses import Losses, aesthetic_loss
from persona_iaa.training.protocol import train
from persona_iaa.training.state import Stage1State, from_checkpoint
from tests.helpers import tiny_config

from .training_helpers import one_thread  # noqa: F401 (autouse fixture)


class NotATensor:
    """A Python object: a file holding one can only be read by unpickling code."""


def flip_one_bit_of(path, values: torch.Tensor) -> None:
    data = bytearray(path.read_bytes())
    start = bytes(data).find(values.numpy().tobytes())
    assert start >= 0
    data[start + values.numel() * 2] ^= 0x10  # inside the tensor's bytes, not the file's structure
    path.write_bytes(bytes(data))


def test_a_flipped_bit_in_a_checkpoint_is_caught(tmp_path, caplog):
    values = torch.arange(1000, dtype=torch.float32)
    older = save_checkpoint(tmp_path, {"stage": 1, "values": values * 2}, stage=1, counter=1, keep_last=3)
    newer = save_checkpoint(tmp_path, {"stage": 1, "values": values}, stage=1, counter=2, keep_last=3)
    assert torch.equal(read_checkpoint(newer)["values"], values)  # intact: reads back as written
    flip_one_bit_of(newer, values)
    with pytest.raises(UnreadableCheckpoint, match="do not match the checksum"):
        read_checkpoint(newer)
    with caplog.at_level(logging.WARNING, logger="persona_iaa.training.checkpoint"):
        path, _ = load_latest_checkpoint(tmp_path)
    assert path == older
    assert "stage1-000000002.pt: checkpoint skipped, damaged" in caplog.text


@pytest.mark.parametrize("content, reason", [
    ({"format": CHECKPOINT_FORMAT, "stage": 1, "object": NotATensor()}, "never unpickled"),
    (b"\x80half a checkpoint", "damaged or cut short"),
])
def test_the_skipped_checkpoint_warning_is_worded_by_us(tmp_path, caplog, content, reason):
    path = tmp_path / "checkpoints" / "stage1-000000001.pt"
    path.parent.mkdir()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with caplog.at_level(logging.WARNING, logger="persona_iaa.training.checkpoint"):
        assert load_latest_checkpoint(tmp_path) is None
    assert reason in caplog.text
    # torch's own text reads as advice to load the file unsafely; it must not reach the user
    for torch_words in ("weights_only", "Re-running", "trust the source", "can still be loaded"):
        assert torch_words not in caplog.text


def test_resume_with_only_unreadable_checkpoints_refuses_to_start_over(demo_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    tiny_config(run_dir, demo_data).save(run_dir / "config.yaml")
    names = ("stage1-000000006.pt", "stage2-000000003.pt")
    damaged = {name: b"\x80damaged " + name.encode() for name in names}
    for name, data in damaged.items():
        (run_dir / "checkpoints" / name).write_bytes(data)
    assert main(["train", "--resume", str(run_dir)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0]  # skipped-checkpoint warnings may precede it
    err = errors[0]
    assert "stage2-000000003.pt, stage1-000000006.pt" in err and "move them out of" in err
    # nothing started over: the files are as they were and nothing was trained
    assert {p.name: p.read_bytes() for p in (run_dir / "checkpoints").iterdir()} == damaged
    assert not (run_dir / "steps.csv").exists() and not (run_dir / "model.safetensors").exists()


def nan_at(call: int):
    calls = [0]

    def loss(predicted, target):
        calls[0] += 1
        value = aesthetic_loss(predicted, target)
        return value * float("nan") if calls[0] == call else value

    return loss


def test_unreadable_checkpoints_neither_push_out_new_ones_nor_get_named(demo_data, tmp_path, caplog):
    """Damaged stage-2 files sort after every stage-1 checkpoint: pruning must not count them."""
    run_dir = tmp_path / "run"
    config = tiny_config(run_dir, demo_data, "train.log_every=1", "train.checkpoint_every=1",
                         "train.keep_last=2")
    with pytest.raises(TrainingError, match="stage-1 step 3"):
        train(config, losses=Losses(aesthetic=nan_at(3)))  # leaves stage1-1 and stage1-2
    for name in ("stage2-000000001.pt", "stage2-000000002.pt"):
        (run_dir / "checkpoints" / name).write_bytes(b"\x80damaged")
    with caplog.at_level(logging.INFO, logger="persona_iaa.training"), pytest.raises(TrainingError) as raised:
        train(config, resume=True, losses=Losses(aesthetic=nan_at(2)))  # resumes at step 2, NaN at step 4
    assert "resuming from" in caplog.text and "stage1-000000002.pt" in caplog.text
    named = str(raised.value).split("the last good checkpoint is ")[1].split(". ")[0]
    assert named.endswith("stage1-000000003.pt")
    assert (run_dir / "checkpoints" / "stage1-000000003.pt").is_file()
    assert [p.name for p in checkpoint_paths(run_dir)] == [
        "stage1-000000002.pt", "stage1-000000003.pt", "stage2-000000001.pt", "stage2-000000002.pt"]


def test_a_checkpoint_of_the_earlier_layout_loads_and_a_foreign_one_is_one_line(demo_data, tmp_path):
    run_dir = tmp_path / "run"
    config = tiny_config(run_dir, demo_data, "train.log_every=1", "train.checkpoint_every=1")
    with pytest.raises(TrainingError):
        train(config, losses=Losses(aesthetic=nan_at(2)))  # leaves stage1-1
    path, current = load_latest_checkpoint(run_dir)
    earlier = {k: v for k, v in current.items() if k not in ("version", "schedule", "checksum")}
    state = from_checkpoint(earlier, path)
    assert isinstance(state, Stage1State) and state.position.step == 1 and state.schedule is None
    assert state.run.model.keys() == current["model"].keys()
    foreign = {k: v for k, v in earlier.items() if k != "position"}
    with pytest.raises(TrainingError, match="not a checkpoint this version of persona-iaa") as raised:
        from_checkpoint(foreign, path)
    assert "\n" not in str(raised.value)
    with pytest.raises(TrainingError, match="newer persona-iaa"):
        from_checkpoint({**current, "version": 99}, path)
