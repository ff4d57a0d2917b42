"""Step and epoch reports: console, steps.csv, metrics.csv and TensorBoard."""
from __future__ import annotations

import csv

import pytest

from persona_iaa.training.protocol import train
from tests.helpers import tiny_config

from .training_helpers import one_thread  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory, demo_data):
    run_dir = tmp_path_factory.mktemp("logs") / "run"
    train(tiny_config(run_dir, demo_data, "train.log_every=2"))
    return run_dir


def rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_step_rows_every_log_every_steps_and_at_epoch_ends(logged_run):
    steps = rows(logged_run / "steps.csv")
    assert [int(r["step"]) for r in steps] == [2, 3, 4, 6]  # 3 steps per epoch
    assert [int(r["epoch"]) for r in steps] == [1, 1, 2, 2]
    for row in steps:
        assert float(row["loss_aesthetic"]) > 0 and float(row["loss_personality"]) > 0
        assert float(row["images_per_second"]) > 0
        assert float(row["lr_backbone"]) > 0 and float(row["lr_heads"]) > 0


def test_epoch_rows_carry_throughput_and_validation(logged_run):
    epochs = [r for r in rows(logged_run / "metrics.csv") if r["stage"] == "1"]
    assert [int(r["step"]) for r in epochs] == [3, 6]
    assert all(float(r["images_per_second"]) > 0 and r["val_srocc"] != "" for r in epochs)


def test_tensorboard_gets_the_same_scalars(logged_run):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logged_run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"stage1/loss_aesthetic", "stage1/images_per_second", "stage1/lr_backbone",
            "stage1_epoch/val_srocc", "stage2_epoch/loss_final"} <= tags
    assert [e.step for e in events.Scalars("stage1/loss_aesthetic")] == [2, 3, 4, 6]
    # stage 2 continues the axis after the 6 stage-1 steps
    assert [e.step for e in events.Scalars("stage2_epoch/loss_final")] == [7, 8, 9]


def test_report_lines_go_through_logging_not_print(tmp_path, caplog, capsys):
    """A user of the Python API silences or redirects them like any library's."""
    import logging

    from persona_iaa.training.monitor import RunLogger

    logger = RunLogger(tmp_path, enabled=True, tensorboard=False)
    with caplog.at_level(logging.INFO, logger="persona_iaa.training"):
        logger.epoch({"stage": 1, "epoch": 1, "loss_aesthetic": 0.25}, x=3)
        logger.note("resuming from somewhere")
    assert "stage=1  epoch=1  loss_aesthetic=0.25" in caplog.text and "resuming from somewhere" in caplog.text
    assert capsys.readouterr().out == ""
    assert (tmp_path / "metrics.csv").read_text().splitlines()[1].startswith("1,1,")
