"""`persona-iaa reproduce`: every row over seeds, table.json as specified, resume after a kill, dry run."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

from persona_iaa.cli import main
from persona_iaa.demo import builtin_config_path
from tests.training.training_helpers import Interrupt, one_thread, run_isolated, train_cli  # noqa: F401

ROWS = {"aesthetic_only", "multitask_sgd", "multitask_lstsq"}
METRICS = {"srocc", "plcc", "krcc", "rmse", "mse", "acc"}
# the tiny test recipe: 32 px, one epoch, a checkpoint after every step (so a kill leaves one)
SETTINGS = ["data.image_size=32", "data.crop_size=28", "data.batch_size=16", "train.epochs=1",
            "train.stage2_epochs=3", "train.checkpoint_every=1"]


def reproduce_args(root: Path, demo_data, *extra: str) -> list[str]:
    return ["reproduce", "table2", "--config", str(builtin_config_path("demo")), "--output", str(root),
            "--aesthetic-data", demo_data["aesthetic"], "--personality-data", demo_data["personality"],
            "--seeds", "2", "--bootstrap", "200", *extra, *SETTINGS]


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, demo_data) -> Path:
    root = tmp_path_factory.mktemp("reproduce") / "root"
    assert main(reproduce_args(root, demo_data)) == 0
    return root


def test_table_json_has_every_row_metric_and_difference(reproduced):
    table = json.loads((reproduced / "table.json").read_text())
    assert set(table["rows"]) == ROWS and table["seeds"] == [0, 1]
    for row in ROWS:
        assert set(table["rows"][row]) == METRICS
        for summary in table["rows"][row].values():
            assert set(summary) >= {"mean", "sd", "values"} and len(summary["values"]) == 2
    assert set(table["difference"]) == {"multitask_sgd", "multitask_lstsq"}
    for diff in table["difference"].values():
        assert set(diff) == {"srocc", "acc", "plcc"}
        for value in diff.values():
            low, high = value["ci95"]
            assert low <= high and set(value) >= {"mean", "ci95"}
    text = (reproduced / "table2.md").read_text()
    assert "Reg+Rank+Att+Cont [5]" in text and "0.702" in text and "behave like an MSE" in text


def test_rows_are_the_runs_own_test_metrics(reproduced):
    """Each seed's values come from its runs: SGD row = the multi-task run, lstsq row = its exact w."""
    table = json.loads((reproduced / "table.json").read_text())
    for i, seed in enumerate(table["seeds"]):
        base = json.loads((reproduced / f"seed-{seed}" / "aesthetic_only" / "test_metrics.json").read_text())
        multi = json.loads((reproduced / f"seed-{seed}" / "multitask" / "test_metrics.json").read_text())
        rows = table["rows"]
        assert rows["aesthetic_only"]["mse"]["values"][i] == pytest.approx(base["test"]["mse"], rel=1e-4)
        assert rows["multitask_sgd"]["srocc"]["values"][i] == pytest.approx(multi["test"]["srocc"], abs=1e-4)
        exact = multi["stage2"]["lstsq_test"]
        assert rows["multitask_lstsq"]["plcc"]["values"][i] == pytest.approx(exact["plcc"], abs=1e-4)
        assert multi["best_epoch"] is not None and base["stage2"] is None
    seeds_differ = table["rows"]["multitask_sgd"]["mse"]["values"]
    assert seeds_differ[0] != seeds_differ[1]
    mean = table["rows"]["multitask_sgd"]["mse"]
    assert mean["mean"] == pytest.approx(np.mean(mean["values"]))


def test_a_killed_reproduction_resumes_to_the_same_table(reproduced, demo_data, tmp_path, capsys):
    root = tmp_path / "root"
    # SIGKILL when seed 0's multi-task run starts stage 2 (its checkpoint is on disk by then)
    kill = Interrupt("protocol.fit_sgd", 1, signal.SIGKILL)
    code = run_isolated(train_cli, reproduce_args(root, demo_data), kill)
    assert code == -signal.SIGKILL
    finished = root / "seed-0" / "aesthetic_only" / "model.safetensors"
    assert finished.is_file() and not (root / "seed-0" / "multitask" / "test_metrics.json").exists()
    before = finished.stat().st_mtime_ns

    assert main(reproduce_args(root, demo_data, "--dry-run")) == 0
    plan = capsys.readouterr().out
    assert [line.split()[2] for line in plan.splitlines()[2:6]] == ["done", "partial", "new", "new"]
    assert "estimated CPU hours left" in plan and not (root / "table.json").exists()

    assert main(reproduce_args(root, demo_data)) == 0
    assert finished.stat().st_mtime_ns == before  # the finished run was skipped, not retrained
    resumed, reference = (json.loads((r / "table.json").read_text()) for r in (root, reproduced))
    assert resumed["rows"] == reference["rows"] and resumed["difference"] == reference["difference"]


def test_another_configuration_into_the_same_root_is_refused(reproduced, demo_data, capsys):
    assert main(reproduce_args(reproduced, demo_data, "loss.personality_reduction=mean")) == 2
    assert "another table or configuration" in capsys.readouterr().err


def test_dry_run_of_the_paper_config_estimates_gpu_hours(demo_data, tmp_path, capsys):
    args = ["reproduce", "table2", "--aesthetic-data", demo_data["aesthetic"], "--personality-data",
            demo_data["personality"], "--output", str(tmp_path / "r"), "--dry-run", "--seeds", "1",
            "data.val_fraction=8"]

    def hours_left() -> float:
        out = capsys.readouterr().out
        assert "backbone densenet121, 20 epochs" in out and "GPU hours left" in out
        return float(next(line for line in out.splitlines() if "left:" in line).split("left: ")[1].split()[0])

    assert main(args) == 0
    at_reference = hours_left()
    assert not (tmp_path / "r").exists()
    assert main(args + ["--throughput", "1300"]) == 0  # half the reference's 2,600 images/s
    assert hours_left() == pytest.approx(2 * at_reference, rel=0.01) and at_reference > 0


def test_a_table_that_is_not_the_papers_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["reproduce", "table3", "--output", str(tmp_path)])
    assert stopped.value.code == 2 and "table3" in capsys.readouterr().err


def test_the_workload_counts_every_pass_a_run_makes():
    from persona_iaa.config import load_config
    from persona_iaa.experiments.estimate import FORWARD_SHARE, Throughput, hours, run_workload

    batches = ["data.batch_size=10", "data.personality_batch_size=20"]
    config = load_config(builtin_config_path("aadb"), batches)
    sizes = {"train": 95, "val": 5, "test": 40}
    baseline = run_workload(config, sizes, None)
    assert baseline == {"train_images": 20 * 95, "forward_images": 20 * 5 + 5 + 40}
    multitask = run_workload(config, sizes, {"train": 1000, "val": 0, "test": 0})
    # 10 aesthetic steps per epoch, each with a 20-image personality batch; stage 2 recomputes its
    # augmented inputs over the 95 training images in each of its 20 epochs
    assert multitask["train_images"] == 20 * (95 + 10 * 20)
    assert multitask["forward_images"] == baseline["forward_images"] + 20 * 95
    frozen = load_config(builtin_config_path("aadb"), ["data.batch_size=10", "train.stage2_inputs=frozen"])
    assert run_workload(frozen, sizes, {"train": 1000, "val": 0, "test": 0})["forward_images"] == 145 + 95
    one_hour = Throughput((20 * 95 + FORWARD_SHARE * 145) / 3600, "test")
    assert hours(baseline, one_hour) == pytest.approx(1.0) and hours(baseline, None) is None


def test_a_root_from_before_a_new_setting_is_still_the_same_reproduction(reproduced, demo_data):
    """Settings added to the project later count at their defaults in an older ROOT's manifest."""
    manifest = reproduced / "reproduce.json"
    saved = json.loads(manifest.read_text())
    older = json.loads(manifest.read_text())
    del older["config"]["train"]["log_grad_norms"]
    manifest.write_text(json.dumps(older))
    try:
        assert main(reproduce_args(reproduced, demo_data)) == 0
    finally:
        manifest.write_text(json.dumps(saved))
