"""train.log_grad_norms: each task's gradient norm on the shared backbone, in steps.csv, without changing
what is trained."""
from __future__ import annotations

import copy
import csv
import dataclasses
import math
from pathlib import Path

import pytest
import torch

from persona_iaa.data.records import AESTHETIC
from persona_iaa.training.monitor import STEP_FIELDS, RunLogger, step_fields
from persona_iaa.training.protocol import Trainer
from persona_iaa.training.step import set_trainable, train_step
from tests.helpers import tiny_config

from .training_helpers import one_thread  # noqa: F401 (autouse fixture)

NORMS = ["grad_norm_aesthetic", "grad_norm_personality"]


@dataclasses.dataclass
class Stage1Run:
    header: list[str]  # of steps.csv
    rows: list[dict[str, str]]
    weights: dict[str, torch.Tensor]


def read_steps(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    return list(reader.fieldnames or []), rows


def stage1(tmp_path: Path, demo_data, name: str, *overrides: str) -> Stage1Run:
    """Stage 1 of a tiny run (log_every 2: rows at steps 2, 3, 4, 6): its steps.csv and its weights."""
    config = tiny_config(tmp_path / name, demo_data, "train.log_every=2", "train.tensorboard=false",
                         *overrides)
    trainer = Trainer(config)
    trainer.stage1()
    header, rows = read_steps(tmp_path / name / "steps.csv")
    return Stage1Run(header, rows, {k: v.clone() for k, v in trainer.model.state_dict().items()})


@pytest.fixture(scope="module")
def runs(tmp_path_factory, demo_data):
    tmp_path = tmp_path_factory.mktemp("grad-norms")
    return {"on": stage1(tmp_path, demo_data, "on", "train.log_grad_norms=true"),
            "off": stage1(tmp_path, demo_data, "off")}


def test_norms_are_logged_on_every_report_row_when_on(runs):
    header, rows = runs["on"].header, runs["on"].rows
    assert header == STEP_FIELDS + NORMS
    assert [int(r["step"]) for r in rows] == [2, 3, 4, 6]
    for row in rows:
        for column in NORMS:
            assert math.isfinite(float(row[column])) and float(row[column]) > 0, (row["step"], column)


def test_no_norm_columns_when_off(runs):
    assert runs["off"].header == STEP_FIELDS


def test_logging_the_norms_does_not_change_training(runs):
    on, off = runs["on"].weights, runs["off"].weights
    assert on.keys() == off.keys()
    for key in on:
        assert torch.equal(on[key], off[key]), f"{key} differs"


def test_an_aesthetic_only_run_logs_only_the_aesthetic_norm(tmp_path, demo_data):
    run = stage1(tmp_path, demo_data, "aesthetic", "train.log_grad_norms=true", "train.personality=false")
    assert run.header == STEP_FIELDS + ["grad_norm_aesthetic"]
    assert run.rows and all(float(r["grad_norm_aesthetic"]) > 0 for r in run.rows)


def test_the_personality_norm_scales_with_the_personality_weight(tmp_path, demo_data):
    """Step 1 trains the same aesthetic batch first whatever the weight, then a personality batch whose
    loss, and so gradient, is ``weight`` times larger: the logged norms must show exactly that."""
    overrides = ("train.log_grad_norms=true", "train.log_every=1", "train.epochs=1")
    logged = {weight: stage1(tmp_path, demo_data, f"w{weight}", *overrides,
                             f"loss.personality_weight={weight}").rows[0]
              for weight in (1, 3)}
    assert logged[1]["step"] == logged[3]["step"] == "1"
    assert float(logged[3]["grad_norm_aesthetic"]) == float(logged[1]["grad_norm_aesthetic"])
    assert float(logged[3]["grad_norm_personality"]) == pytest.approx(
        3 * float(logged[1]["grad_norm_personality"]), rel=1e-5)


def test_the_measured_norm_is_the_backbone_gradient_of_the_batch(tmp_path, demo_data):
    """The norm a measured step leaves equals the one computed by hand on a copy of the model."""
    trainer = Trainer(tiny_config(tmp_path / "run", demo_data, "train.log_grad_norms=true"))
    set_trainable(trainer.model, 1)
    trainer.model.train()
    context = trainer.step_context(trainer.optimizer(1))
    generator = torch.Generator().manual_seed(0)
    images, targets = torch.randn(8, 3, 28, 28, generator=generator), torch.rand(8, 1, generator=generator)
    by_hand = copy.deepcopy(trainer.model)

    done = train_step(context, [(AESTHETIC, (images, targets))], measure=True)

    predicted = by_hand.aesthetic_head(by_hand.backbone(images)).squeeze(-1)
    ((predicted - targets[:, 0]) ** 2).mean().backward()
    expected = math.sqrt(sum(float((p.grad ** 2).sum()) for p in by_hand.backbone.parameters()))
    assert done[0].grad_norm is not None
    assert float(done[0].grad_norm) == pytest.approx(expected, rel=1e-5)
    assert train_step(context, [(AESTHETIC, (images, targets))])[0].grad_norm is None


def test_a_resumed_run_with_other_columns_keeps_one_header(tmp_path):
    """Resuming with the switch turned on rewrites steps.csv with the new columns: old rows stay, blank."""
    before = RunLogger(tmp_path, enabled=True, tensorboard=False)
    for step in (1, 2, 3):
        before.step({"stage": 1, "epoch": 1, "step": step, "loss_aesthetic": 0.5})
    after = RunLogger(tmp_path, enabled=True, tensorboard=False, step_columns=step_fields([AESTHETIC]))
    after.restore([], x=2)
    after.step({"stage": 1, "epoch": 1, "step": 3, "loss_aesthetic": 0.4, "grad_norm_aesthetic": 0.25})
    header, rows = read_steps(tmp_path / "steps.csv")
    assert header == STEP_FIELDS + ["grad_norm_aesthetic"]
    assert [(r["step"], r["grad_norm_aesthetic"]) for r in rows] == [("1", ""), ("2", ""), ("3", "0.25")]


def test_two_gloo_processes_log_the_norms_of_one_process(tmp_path, demo_data):
    """Under DDP rank 0 logs the norm of the averaged gradient: the one-process gradient of the global
    batch (with a batch-independent network, to rounding error)."""
    from .test_ddp import DDP_OVERRIDES, batch_independent_model, train_rank
    from .training_helpers import run_ranks

    configs = {name: tiny_config(tmp_path / name, demo_data, *DDP_OVERRIDES, "train.log_grad_norms=true",
                                 "train.stage2_epochs=1") for name in ("single", "pair")}
    Trainer(configs["single"], model=batch_independent_model(configs["single"].train.seed)).run()
    assert run_ranks(train_rank, 2, configs["pair"]) == [0, 0]
    single, pair = (read_steps(tmp_path / name / "steps.csv") for name in ("single", "pair"))
    assert single[0] == pair[0] == STEP_FIELDS + NORMS
    assert [r["step"] for r in single[1]] == [r["step"] for r in pair[1]] == ["1", "2", "3", "4", "5", "6"]
    for one, two in zip(single[1], pair[1]):
        for column in NORMS:
            assert float(two[column]) == pytest.approx(float(one[column]), rel=1e-4), (one["step"], column)



@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on a GPU machine)")
def test_fp16_measures_the_unscaled_gradient_and_updates_as_without_it():
    """With the gradient scaler the hook sees true gradients (unscaled first), and the update is the one
    ``scaler.step`` makes on its own."""
    from persona_iaa.training.precision import Precision
    from persona_iaa.training.step import gradient_norm, sgd

    torch.manual_seed(0)
    device = torch.device("cuda")
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)).to(device)
    measured, unmeasured, plain = model, copy.deepcopy(model), copy.deepcopy(model)
    inputs = torch.randn(8, 6, device=device)
    seen: list[torch.Tensor] = []

    def fp16_step(net: torch.nn.Module, on_gradients=None) -> None:
        optimizer = sgd([("all", list(net.parameters()), 0.1)], momentum=0.9, weight_decay=1e-5)
        Precision("fp16", device).step(optimizer, net(inputs).pow(2).mean(), on_gradients)

    fp16_step(measured, lambda: seen.append(gradient_norm(list(measured.parameters()))))
    fp16_step(unmeasured)
    plain(inputs).pow(2).mean().backward()  # fp32 gradients, no scaler
    assert float(seen[0]) == pytest.approx(float(gradient_norm(list(plain.parameters()))), rel=1e-5)
    for with_hook, without in zip(measured.parameters(), unmeasured.parameters()):
        assert torch.equal(with_hook, without)
