"""The two-stage protocol: what changes in which stage, learning rates, alternation, outputs."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from persona_iaa.constants import TRAITS
from persona_iaa.data.records import AESTHETIC, PERSONALITY
from persona_iaa.errors import ConfigError
from persona_iaa.models.pdmtl import final_score
from persona_iaa.training.checkpoint import read_training_state
from persona_iaa.training.losses import Losses, aesthetic_loss, final_loss, personality_loss
from persona_iaa.training.protocol import Trainer, fit_inter_task_lstsq
from persona_iaa.training.schedule import AlternationSchedule
from tests.helpers import tiny_config


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items() if v.is_floating_point())


def test_losses_by_hand():
    pred, target = torch.tensor([0.5, 1.0]), torch.tensor([0.0, 0.0])
    assert aesthetic_loss(pred, target).item() == pytest.approx((0.25 + 1.0) / 2)
    assert final_loss(pred, target).item() == pytest.approx((0.25 + 1.0) / 2)
    traits = torch.tensor([[1.0, 0, 0, 0, 0], [1.0, 1.0, 0, 0, 0]])
    # per-image sums 1 and 2, mean over images 1.5
    assert personality_loss(traits, torch.zeros(2, 5)).item() == pytest.approx(1.5)


def test_stage1_trains_backbone_and_heads_but_not_w_and_stage2_only_w(demo_data, tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run", demo_data, "train.epochs=1"))
    trainer.run_dir.mkdir(parents=True)
    model = trainer.model
    parts = ("backbone", "aesthetic_head", "personality_head")
    before = {name: snapshot(getattr(model, name)) for name in parts}
    trainer.stage1()
    for name, state in before.items():
        assert changed(state, getattr(model, name)), f"{name} did not train in stage 1"
    assert torch.count_nonzero(model.inter_task) == 0
    after1 = {name: snapshot(getattr(model, name)) for name in before}
    trainer.stage2()
    for name, state in after1.items():
        assert not changed(state, getattr(model, name)), f"{name} changed in stage 2"
    assert torch.count_nonzero(model.inter_task) == 5


def test_optimizer_groups_use_the_papers_rates(demo_data, tmp_path):
    config = tiny_config(tmp_path / "run", demo_data)
    config.optim.lr_backbone, config.optim.lr_heads, config.optim.lr_inter_task = 1e-5, 1e-4, 2e-4
    trainer = Trainer(config)
    stage1, stage2 = trainer.optimizer(1), trainer.optimizer(2)
    assert [(g["name"], g["lr"]) for g in stage1.param_groups] == [("backbone", 1e-5), ("heads", 1e-4)]
    assert [(g["name"], g["lr"]) for g in stage2.param_groups] == [("inter_task", 2e-4)]
    for group in stage1.param_groups + stage2.param_groups:
        assert group["momentum"] == 0.9 and group["weight_decay"] == 1e-5


def counting(calls: list[str], label: str, loss):
    def counted(predicted, target):
        calls.append(label)
        return loss(predicted, target)
    return counted


def test_stage1_alternates_aesthetic_and_personality_batches(demo_data, tmp_path):
    calls: list[str] = []
    losses = Losses(aesthetic=counting(calls, "a", aesthetic_loss),
                    personality=counting(calls, "p", personality_loss))
    # 24 personality training images in batches of 16 -> 2 batches per pass; 39 aesthetic -> 3 batches:
    # the personality loader must cycle.
    trainer = Trainer(tiny_config(tmp_path / "run", demo_data, "train.epochs=1", "data.batch_size=16"),
                      losses=losses)
    trainer.run_dir.mkdir(parents=True)
    trainer.stage1()
    n_batches = -(-len(trainer.aesthetic.splits["train"]) // 16)
    assert calls == ["a", "p"] * n_batches
    assert n_batches > -(-len(trainer.personality.splits["train"]) // 16)


def test_another_schedule_changes_the_alternation_and_the_stream_position(demo_data, tmp_path):
    """Two aesthetic batches per personality batch: 3 aesthetic batches make steps (a a p) and (a p)."""
    calls: list[str] = []
    losses = Losses(aesthetic=counting(calls, "a", aesthetic_loss),
                    personality=counting(calls, "p", personality_loss))
    run_dir = tmp_path / "run"
    trainer = Trainer(tiny_config(run_dir, demo_data, "train.epochs=1", "data.batch_size=16"), losses=losses,
                      schedule=AlternationSchedule.ratio(aesthetic=2, personality=1))
    trainer.run_dir.mkdir(parents=True)
    trainer.stage1()
    assert -(-len(trainer.aesthetic.splits["train"]) // 16) == 3
    assert calls == ["a", "a", "p", "a", "p"]
    path, state = read_training_state(run_dir)
    assert path.name == "stage1-000000002.pt"
    assert state.position.step == 2 and state.position.personality == 2 * 16
    assert state.schedule == (AESTHETIC, AESTHETIC, PERSONALITY)


def test_a_schedule_needs_an_aesthetic_batch_and_known_tasks():
    assert AlternationSchedule().pattern == (AESTHETIC, PERSONALITY)  # the paper's 1:1
    for pattern in [(PERSONALITY,), (AESTHETIC, "style")]:
        with pytest.raises(ConfigError, match="alternation pattern"):
            AlternationSchedule(pattern)


def test_learning_rates_decay_by_0_9_per_epoch(demo_data, tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run", demo_data, "train.epochs=3", "train.stage2_epochs=2"))
    trainer.run()
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    stage1 = [r for r in rows if r["stage"] == "1"]
    stage2 = [r for r in rows if r["stage"] == "2"]
    assert len(stage1) == 3 and len(stage2) == 2
    lrs = [float(r["lr_heads"]) for r in stage1]
    assert lrs[1] == pytest.approx(lrs[0] * 0.9) and lrs[2] == pytest.approx(lrs[0] * 0.81)
    assert float(stage2[1]["lr_inter_task"]) == pytest.approx(float(stage2[0]["lr_inter_task"]) * 0.9)
    assert all(r["val_srocc"] != "" for r in stage1)


def test_lstsq_solver_solves_eq6_exactly(demo_data, tmp_path):
    run_dir = tmp_path / "run"
    result = Trainer(tiny_config(run_dir, demo_data, "train.inter_task_solver=lstsq")).run()
    # The stage-2 checkpoint holds the frozen outputs the solver saw; the model's w must minimise
    # eq. (6) on them: the gradient of the squared error vanishes there (the normal equations).
    _, state = read_training_state(run_dir)
    frozen = state.frozen
    w = np.array([result["inter_task_weights"][t] for t in TRAITS])
    residual = final_score(frozen.aesthetic, frozen.personality, w) - frozen.target
    gradient = frozen.personality.astype(np.float64).T @ residual / len(residual)
    np.testing.assert_allclose(gradient, 0, atol=1e-6)
    assert result["stage2"]["train_mse"] == pytest.approx(np.mean(residual ** 2), rel=1e-6)
    assert result["stage2"]["train_mse"] < result["stage2"]["train_mse_without_w"]
    # and the solver recovers known weights from outputs made with them
    rng = np.random.default_rng(0)
    a, p = rng.uniform(0, 1, 40), rng.uniform(-1, 1, (40, 5))
    t = a + p @ np.array([0.1, -0.2, 0.05, 0.3, -0.1]) + rng.normal(0, 0.01, 40)
    w = fit_inter_task_lstsq(a, p, t)
    np.testing.assert_allclose(w, [0.1, -0.2, 0.05, 0.3, -0.1], atol=0.02)


def test_aesthetic_only_baseline_needs_no_personality_data(demo_data, tmp_path):
    config = tiny_config(tmp_path / "run", demo_data, "train.personality=false", "data.personality=null")
    result = Trainer(config).run()
    assert result["stage2"] is None
    assert result["inter_task_weights"] == {t: 0.0 for t in "OCEAN"}


def test_multitask_without_personality_data_is_a_clear_error(demo_data, tmp_path):
    with pytest.raises(ConfigError, match="--no-personality"):
        Trainer(tiny_config(tmp_path / "run", demo_data, "data.personality=null"))


def test_run_directory_holds_everything_and_runs_repeat(demo_data, tmp_path):
    first = Trainer(tiny_config(tmp_path / "a", demo_data, "train.epochs=1")).run()
    second = Trainer(tiny_config(tmp_path / "b", demo_data, "train.epochs=1")).run()
    for name in ("config.yaml", "metrics.csv", "test_metrics.json", "model.safetensors", "model.json",
                 "inter_task_weights.png"):
        assert (tmp_path / "a" / name).is_file(), name
    assert first["test"] == second["test"] and first["inter_task_weights"] == second["inter_task_weights"]
    saved = json.loads((tmp_path / "a" / "test_metrics.json").read_text())
    assert saved["test"]["n"] == 24 and set(saved["personality"]) == {"O", "C", "E", "A", "N", "mean"}
    meta = json.loads((tmp_path / "a" / "model.json").read_text())
    assert meta["model"]["backbone"] == "tiny" and meta["preprocessing"]["crop_size"] == 28


def test_the_test_predictions_file_holds_every_test_image_and_gives_the_test_metrics(demo_data, tmp_path):
    from persona_iaa.evaluation.evaluate import PREDICTIONS_FILE, read_predictions
    from persona_iaa.evaluation.metrics import aesthetic_metrics

    result = Trainer(tiny_config(tmp_path / "a", demo_data, "train.epochs=1")).run()
    paths, pred = read_predictions(tmp_path / "a" / PREDICTIONS_FILE)
    assert len(paths) == len(set(paths)) == result["test"]["n"] and all(Path(p).is_file() for p in paths)
    recomputed = aesthetic_metrics(pred.score, pred.target[:, 0])
    assert recomputed["srocc"] == pytest.approx(result["test"]["srocc"], abs=1e-5)
    assert recomputed["mse"] == pytest.approx(result["test"]["mse"], rel=1e-4)
    w = np.array([result["inter_task_weights"][t] for t in "OCEAN"])
    np.testing.assert_allclose(final_score(pred.aesthetic, pred.personality, w), pred.score, atol=1e-5)


def test_an_undecodable_training_image_is_replaced_not_fatal(tmp_path):
    from PIL import Image

    from persona_iaa.data.loading import RecordDataset
    from persona_iaa.data.records import Record
    from persona_iaa.data.transforms import Preprocessing, eval_transform

    good = tmp_path / "good.png"
    Image.new("RGB", (40, 40), (250, 0, 0)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff truncated")
    dataset = RecordDataset([Record(str(bad), (0.1,)), Record(str(good), (0.9,))],
                            eval_transform(Preprocessing(32, 28)))
    with pytest.warns(UserWarning, match="bad.jpg"):
        image, target, index = dataset[0]
    assert index == 1 and target.item() == pytest.approx(0.9) and image.shape == (3, 28, 28)


@pytest.mark.parametrize("metric", ["srocc", "rmse"])
def test_the_kept_epoch_is_the_best_by_the_selection_metric(demo_data, tmp_path, metric):
    result = Trainer(tiny_config(tmp_path / "run", demo_data, "train.epochs=3", "train.stage2_epochs=1",
                                 f"train.select_metric={metric}")).run()
    rows = [r for r in csv.DictReader((tmp_path / "run" / "metrics.csv").open()) if r["stage"] == "1"]
    values = [float(r[f"val_{metric}"]) for r in rows]
    best = (min if metric == "rmse" else max)(values)
    # ties keep the later epoch
    assert result["best_epoch"] == max(i + 1 for i, v in enumerate(values) if v == best)


def test_without_validation_split_the_last_epoch_is_kept(demo_data, tmp_path):
    result = Trainer(tiny_config(tmp_path / "run", demo_data, "train.epochs=2", "data.val_fraction=0",
                                 "train.personality=false")).run()
    assert result["best_epoch"] == 2


@pytest.mark.parametrize("override, message", [
    ("train.select_metric=accuracy", "train.select_metric must be one of"),
    ("data.batch_size=0", "data.batch_size"),
    ("data.workers=-1", "data.workers"),
    ("data.crop_size=64", "data.crop_size (64) must lie between"),
])
def test_unusable_settings_are_clear_errors(demo_data, tmp_path, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Trainer(tiny_config(tmp_path / "run", demo_data, override))


def test_a_second_run_into_a_run_directory_is_refused(demo_data, tmp_path):
    Trainer(tiny_config(tmp_path / "run", demo_data, "train.epochs=1", "train.stage2_epochs=1")).run()
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(tiny_config(tmp_path / "run", demo_data, "train.epochs=1")).run()


def test_a_cache_prepared_smaller_than_the_training_size_is_refused(demo_data, tmp_path):
    from persona_iaa.data.cache import prepare_cache

    prepare_cache(demo_data["aesthetic"], tmp_path / "cache", image_size=24, workers=0)
    with pytest.raises(ConfigError, match="prepared at 24 px"):
        Trainer(tiny_config(tmp_path / "run", dict(demo_data, aesthetic=f"cache:{tmp_path / 'cache'}")))


def test_run_reports_test_metrics_of_the_least_squares_w(demo_data, tmp_path):
    result = Trainer(tiny_config(tmp_path / "run", demo_data, "train.inter_task_solver=lstsq")).run()
    # with the lstsq solver the model's own w is the least-squares one: both test rows agree
    assert result["stage2"]["lstsq_test"]["rmse"] == pytest.approx(result["test"]["rmse"], abs=1e-6)
    assert result["stage2"]["lstsq_test"]["n"] == result["test"]["n"]
