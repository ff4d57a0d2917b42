"""The paper's two-stage training protocol, on one process or many, resumable at any moment.

Stage 1 (:mod:`.stage1`) alternates aesthetic batches (L_a) and personality batches (L_p) through the
shared network as the :class:`~.schedule.AlternationSchedule` says (the paper's 1:1 by default; the
personality domain is an endless seeded stream). SGD (momentum 0.9, weight decay 1e-5) with learning
rates per group (backbone 1e-5, heads 1e-4) times 0.9 after every epoch; the epoch with the best
validation SROCC is kept. Stage 2 freezes everything but the five inter-task weights ``w`` and fits them
with L on aesthetic data. Because nothing before ``w`` changes in stage 2, the frozen outputs
(s_a, s_p) are computed once and the pure solvers of :mod:`.stage2` work on them: ``fit_sgd`` (the
paper) or ``fit_lstsq`` (``inter_task_solver: lstsq``, eq. (6) solved exactly); both solutions are
always recorded so a run shows whether SGD converged.

Under torchrun each rank trains on its share of every global batch (``data.batch_size`` is the global
batch), so the sequence of global batches, and with it the optimisation, is the one of a single process.
Stage 2 runs the same deterministic fit on every rank from gathered outputs. Checkpoints carry the whole
state (:mod:`.state`); randomness derives from (seed, epoch, sample), so a resumed run reaches the
weights of an uninterrupted one. This module composes the parts: :class:`Trainer` and :func:`train`.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from ..config import Config, DataConfig, OptimConfig, check_loader_settings
from ..constants import TRAITS
from ..data.loading import RecordDataset, make_loader, shard
from ..data.records import AESTHETIC, PERSONALITY
from ..data.registry import TaskData, load_task_data
from ..data.transforms import EVAL_GEOMETRIES, eval_transform, train_transform
from ..errors import ConfigError, TrainingError
from ..evaluation.evaluate import PREDICTIONS_FILE, Predictions, predict, write_predictions
from ..evaluation.metrics import aesthetic_metrics, json_safe, personality_metrics
from ..files import write_json
from ..models.pdmtl import HEADS, PersonalityDrivenIAA, build_model, final_score
from ..runtime import StopSignals, derive_seed, seed_everything
from .checkpoint import CHECKPOINT_DIR, RunCheckpoints, TrainingInterrupted, restore_rng, save_model
from .distributed import init_distributed, shutdown_distributed, sync_buffers, unshard, wrap_for_training
from .losses import (
    REDUCTIONS,
    EuclideanLoss,
    Losses,
    NonFiniteLoss,
    aesthetic_loss,
    final_loss,
    personality_loss,
)
from .monitor import RunLogger, step_fields
from .precision import Precision
from .schedule import AlternationSchedule
from .stage1 import (
    LOWER_IS_BETTER,
    SELECT_METRICS,
    STREAM_AESTHETIC,
    STREAM_PERSONALITY,
    Stage1Loop,
    cpu_state,
)
from .stage2 import (
    STREAM_STAGE2,
    STREAM_STAGE2_INPUTS,
    FrozenOutputs,
    SGDEpoch,
    SGDSettings,
    SGDState,
    fit_lstsq,
    fit_sgd,
    sgd_start,
)
from .stage2 import final_mse as stage2_mse
from .state import RunState, Stage1Position, Stage1State, Stage2State, rescale_learning_rates
from .step import StepContext, TaskForward, paper_tasks, set_trainable, sgd

log = logging.getLogger(__name__)

__all__ = [  # the names this module has always offered, wherever they live now
    "Trainer", "train", "TrainingInterrupted", "Stage1Position", "TaskForward", "fit_inter_task_lstsq",
    "final_mse", "cpu_state", "SELECT_METRICS", "LOWER_IS_BETTER", "STREAM_AESTHETIC", "STREAM_PERSONALITY",
    "STREAM_STAGE2", "aesthetic_loss", "personality_loss", "final_loss",
]


def fit_inter_task_lstsq(aesthetic: np.ndarray, personality: np.ndarray, target: np.ndarray) -> np.ndarray:
    """w minimising sum_i (s_a_i + w . s_p_i - s_i)^2 (eq. 6) exactly (see :func:`.stage2.fit_lstsq`)."""
    return fit_lstsq(FrozenOutputs(aesthetic, personality, target)).weights


def final_mse(aesthetic: np.ndarray, personality: np.ndarray, target: np.ndarray, w: np.ndarray) -> float:
    """L over arrays (see :func:`.stage2.final_mse`, which takes :class:`FrozenOutputs`)."""
    return stage2_mse(FrozenOutputs(aesthetic, personality, target), w)


def check_training_config(config: Config) -> None:
    """Settings the protocol cannot run with, as one clear error before anything is loaded."""
    tc = config.train
    if tc.inter_task_solver not in ("sgd", "lstsq"):
        raise ConfigError(f"train.inter_task_solver must be sgd or lstsq, not {tc.inter_task_solver!r}")
    if not config.data.aesthetic:
        raise ConfigError("no aesthetic data: pass --aesthetic-data FORMAT:PATH (or set data.aesthetic)")
    if tc.personality and not config.data.personality:
        raise ConfigError("no personality data: pass --personality-data FORMAT:PATH, or --no-personality "
                          "for the aesthetic-only baseline")
    for key in ("log_every", "keep_last"):
        if getattr(tc, key) < 1:
            raise ConfigError(f"train.{key} must be at least 1")
    for key, value, allowed in (("train.select_metric", tc.select_metric, SELECT_METRICS),
                                ("train.stage2_split", tc.stage2_split, ("train", "val")),
                                ("train.stage2_inputs", tc.stage2_inputs, ("frozen", "augmented")),
                                ("data.eval_geometry", config.data.eval_geometry, EVAL_GEOMETRIES),
                                ("loss.personality_reduction", config.loss.personality_reduction, REDUCTIONS),
                                ("model.heads", config.model.heads, HEADS)):
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    check_loader_settings(config.data)


def load_run_data(config: Config) -> tuple[TaskData, Optional[TaskData]]:
    """The aesthetic and (unless the baseline) personality data, split by the run's policy."""
    data = config.data

    def load(spec: Optional[str], task: str, options: dict[str, Any], val: float, test: float) -> TaskData:
        return load_task_data(spec or "", task, options, val_fraction=val, test_fraction=test,
                              seed=config.train.seed)

    aesthetic = load(data.aesthetic, AESTHETIC, data.aesthetic_options, data.val_fraction, data.test_fraction)
    if data.aesthetic_train_size is not None:
        aesthetic = aesthetic.with_train_subset(data.aesthetic_train_size, config.train.seed)
    personality = (load(data.personality, PERSONALITY, data.personality_options, *personality_fractions(data))
                   if config.train.personality else None)
    for task in [t for t in (aesthetic, personality) if t is not None]:
        cached = task.source.info.get("image_size")
        if cached is not None and cached < data.image_size:
            raise ConfigError(f"{task.source.spec} was prepared at {cached} px, smaller than "
                              f"data.image_size={data.image_size}: prepare it again at that size")
    return aesthetic, personality


def personality_fractions(data: DataConfig) -> tuple[float, float]:
    """The personality domain's (validation, test) split shares: its own keys, else the aesthetic ones.

    The paper trains the personality task on all of PsychoFlickr, so its configs set both to 0.
    """
    val, test = data.personality_val_fraction, data.personality_test_fraction
    return (data.val_fraction if val is None else val, data.test_fraction if test is None else test)


def run_losses(config: Config) -> Losses:
    """The losses ``config.loss`` asks for: L_p's reduction over the traits and its weight."""
    lc = config.loss
    return Losses(personality=EuclideanLoss(lc.personality_reduction, lc.personality_weight))


def learning_rates(optim: OptimConfig) -> dict[str, float]:
    """The initial learning rate of each parameter group."""
    return {"backbone": optim.lr_backbone, "heads": optim.lr_heads, "inter_task": optim.lr_inter_task}


def sgd_settings(config: Config) -> SGDSettings:
    opt = config.optim
    return SGDSettings(config.train.stage2_epochs, config.data.batch_size, opt.lr_inter_task, opt.momentum,
                       opt.weight_decay, opt.lr_decay)


class Trainer:
    """Runs the protocol for one :class:`Config` and writes the run directory (rank 0 only).

    ``losses`` and ``schedule`` change what the paper fixes (its three Euclidean losses, its 1:1
    alternation) without touching the loop.
    """

    def __init__(self, config: Config, model: Optional[PersonalityDrivenIAA] = None, *, resume: bool = False,
                 losses: Optional[Losses] = None, schedule: Optional[AlternationSchedule] = None):
        check_training_config(config)
        self.config, tc = config, config.train
        self.dist = init_distributed(tc.device)
        self.device = self.dist.device
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
        self.precision = Precision(tc.precision, self.device)
        self.batch_size = self.dist.per_rank(config.data.batch_size, "data.batch_size")
        self.personality_batch_size = self.dist.per_rank(
            config.data.personality_batch_size or config.data.batch_size, "data.personality_batch_size")
        self.personality_global_batch = self.personality_batch_size * self.dist.world_size
        seed_everything(tc.seed)
        self.run_dir = Path(tc.output)
        self.aesthetic, self.personality = load_run_data(config)
        self.memory_format = torch.channels_last if tc.channels_last else torch.contiguous_format
        self.model = (model or build_model(config.model.backbone, config.model.backbone_weights,
                                           hidden_dims=config.model.hidden_dims,
                                           heads=config.model.heads))
        self.model.to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.pre = self.model.preprocessing_at(  # the backbone's mean/std at the run's sizes
            config.data.image_size, config.data.crop_size, config.data.eval_geometry)
        self.resume = resume
        self.losses = losses or run_losses(config)
        self.tasks = paper_tasks(self.losses)
        trained = (AESTHETIC,) if self.personality is None else (AESTHETIC, PERSONALITY)
        self.schedule = (schedule or AlternationSchedule()).restricted_to(trained)
        measured = [task for task in (AESTHETIC, PERSONALITY) if task in self.schedule.pattern]
        self.logger = RunLogger(self.run_dir, enabled=self.dist.is_main, tensorboard=tc.tensorboard,
                                step_columns=step_fields(measured if tc.log_grad_norms else ()))
        self.stop = StopSignals()
        self.checkpoints = RunCheckpoints(self.run_dir, self.dist, tc.keep_last)
        self.best_epoch: Optional[int] = None

    # -- data ---------------------------------------------------------------------------------------
    def loader(self, task: TaskData, split: str, train: bool, batch_size: Optional[int] = None,
               sampler: Optional[Sampler] = None) -> DataLoader:
        """Training loaders take a seeded sampler; evaluation reads this rank's share in order."""
        transform = train_transform(self.pre, self.config.data.hflip) if train else eval_transform(self.pre)
        dataset = RecordDataset(task.splits[split], transform, task.source.open_image)
        return make_loader(dataset, batch_size or self.config.data.batch_size, shuffle=False,
                           workers=self.config.data.workers, seed=self.config.train.seed,
                           sampler=sampler if sampler is not None else shard(len(dataset), self.dist.rank,
                                                                             self.dist.world_size),
                           pin_memory=self.device.type == "cuda")

    def predict_split(self, task: TaskData, split: str, desc: str, loader: Optional[DataLoader] = None
                      ) -> Predictions:
        """The model's outputs over a whole split, each rank predicting its share, gathered on all ranks
        (``loader``: this rank's share another way, e.g. through the training transform)."""
        sync_buffers(self.model, self.dist)
        with self.precision.autocast():
            loader = loader or self.loader(task, split, train=False)
            local = predict(self.model, loader, self.device, desc=desc)
        if not self.dist.distributed:
            return local
        parts = self.dist.all_gather(local)
        return Predictions(*(unshard([getattr(p, f.name) for p in parts])
                             for f in dataclasses.fields(Predictions)))

    def evaluate(self, split: str) -> dict[str, Any]:
        if not self.aesthetic.splits[split]:
            return {}
        pred = self.predict_split(self.aesthetic, split, desc=split)
        return aesthetic_metrics(pred.score, pred.target[:, 0])

    # -- optimisation -------------------------------------------------------------------------------
    def optimizer(self, stage: int) -> torch.optim.SGD:
        """Stage 1: the backbone and heads groups; stage 2: the inter-task weights alone."""
        opt, groups = self.config.optim, self.model.parameter_groups()
        rates = learning_rates(opt)
        names = ("backbone", "heads") if stage == 1 else ("inter_task",)
        return sgd([(name, groups[name], rates[name]) for name in names], momentum=opt.momentum,
                   weight_decay=opt.weight_decay)

    def training_module(self) -> nn.Module:
        """What stage 1 calls forward on: :class:`TaskForward`, under DDP and torch.compile as configured."""
        tc = self.config.train
        return wrap_for_training(TaskForward(self.model), self.dist, sync_batchnorm=tc.sync_batchnorm,
                                 compile_module=tc.compile)

    def step_context(self, optimizer: torch.optim.Optimizer) -> StepContext:
        """What :func:`~.step.train_step` needs to train this run's model with ``optimizer``."""
        return StepContext(self.training_module(), optimizer, self.precision, self.device, self.memory_format,
                           self.tasks, shared=self.model.parameter_groups()["backbone"])

    # -- the stages ---------------------------------------------------------------------------------
    def stage1(self, resume: Optional[Stage1State] = None) -> None:
        """Alternating training; ``resume`` is a stage-1 checkpoint's state to continue from."""
        Stage1Loop(self, resume).run()

    def stage2(self, resume: Optional[Stage2State] = None) -> dict[str, Any]:
        """Fit w on frozen outputs of the aesthetic ``train.stage2_split`` (the paper's: the training
        split, where the aesthetic head is already fitted; ``val`` fits on held-out outputs); returns
        both solutions.

        Every rank gathers the same outputs and runs the same fit; rank 0's ``w`` is then broadcast so
        that all ranks hold bit-identical weights whatever the hardware does. SGD checkpoints after
        every epoch (and stops there on SIGTERM/SIGINT).
        """
        cfg, w = self.config, self.model.inter_task
        set_trainable(self.model, 2)
        settings = sgd_settings(cfg)
        if resume is not None:
            self.restore_run(resume.run, resume.log_x)
            frozen, stage1_steps = resume.frozen, resume.stage1_steps
            start = SGDState(resume.epoch, w.detach().cpu().clone(), resume.run.optimizer,
                             resume.run.scheduler)
        else:
            split = cfg.train.stage2_split
            if not self.aesthetic.splits[split]:
                raise ConfigError(f"train.stage2_split={split}: the aesthetic data has no {split} split")
            outputs = self.predict_split(self.aesthetic, split, desc="stage 2 outputs")
            frozen = FrozenOutputs(*(np.asarray(x, dtype=np.float32) for x in (
                outputs.aesthetic, outputs.personality, outputs.target[:, 0])))
            stage1_steps = next((r["step"] for r in reversed(self.logger.history) if r["stage"] == 1), 0)
            start = sgd_start(settings, w.detach().cpu())
        saver = Stage2Saver(self, frozen, stage1_steps)
        if resume is None:
            saver.save(start)
        w_lstsq = fit_lstsq(frozen).weights
        fitted = w_lstsq
        if cfg.train.inter_task_solver == "sgd":
            try:
                fitted = fit_sgd(frozen, settings, cfg.train.seed, loss=self.losses.final, start=start,
                                 on_epoch=saver.on_epoch, device=self.device,
                                 epoch_outputs=augmented_outputs(self, cfg.train.stage2_split)
                                 if cfg.train.stage2_inputs == "augmented" else None).weights
            except NonFiniteLoss as bad:
                raise self.checkpoints.diverged(2, bad.step, bad.name, bad.value) from None
        with torch.no_grad():
            w.copy_(torch.as_tensor(fitted, dtype=w.dtype))
        self.dist.broadcast_([w])
        return stage2_summary(cfg.train.inter_task_solver, frozen, w.detach().cpu().double().numpy(), w_lstsq)

    # -- checkpoint state ---------------------------------------------------------------------------
    def run_state(self, optimizer: dict[str, Any], scheduler: dict[str, Any], rngs: list[dict[str, Any]]
                  ) -> RunState:
        """What every checkpoint holds besides its stage's own part."""
        data = self.config.data
        return RunState(cpu_state(self.model), optimizer, scheduler, self.precision.state_dict(), rngs,
                        json_safe(self.logger.history), self.dist.world_size, data.batch_size,
                        data.personality_batch_size or data.batch_size)

    def restore_run(self, run: RunState, x: int, optimizer: Optional[torch.optim.Optimizer] = None,
                    scheduler: Any = None) -> None:
        """Load a checkpoint's common state; ``x`` is its place on the logs' axis.

        Learning rates given with --resume replace the run's (the decay so far applies to the new ones).
        """
        for key in ("batch_size", "personality_batch_size"):
            now = getattr(self.config.data, key) or self.config.data.batch_size
            if getattr(run, key) != now:
                raise TrainingError(f"the run was trained with data.{key}={getattr(run, key)}, not {now}: "
                                    "resume it with the same global batch size (the number of processes "
                                    "may change)")
        self.model.load_state_dict(run.model)
        for note in rescale_learning_rates(run.optimizer, run.scheduler, learning_rates(self.config.optim)):
            self.logger.note(note)
        if optimizer is not None:
            optimizer.load_state_dict(run.optimizer)
            scheduler.load_state_dict(run.scheduler)
        self.precision.load_state_dict(run.scaler)
        restore_rng(run.rng[self.dist.rank] if len(run.rng) == self.dist.world_size else run.rng[0])
        self.logger.restore(run.history, x)

    # -- the whole run ------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        if not self.resume and any((self.run_dir / CHECKPOINT_DIR).glob("*.pt")):
            # A new run here would mix its checkpoints and logs with the old run's.
            raise ConfigError(f"{self.run_dir} already holds a run: continue it with --resume "
                              f"{self.run_dir}, or train into another --output")
        state = self.checkpoints.resume() if self.resume else None  # refuses before anything is written
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.config.save(self.run_dir / "config.yaml")
        try:
            with self.stop:
                if not isinstance(state, Stage2State):
                    self.stage1(state)
                    state = None
                stage2 = self.stage2(state) if self.personality is not None else None
            result = finish_run(self, stage2)
        finally:
            self.logger.close()
        self.dist.barrier()
        return result


def augmented_outputs(trainer: "Trainer", split: str) -> Callable[[int], FrozenOutputs]:
    """Stage-2 inputs for an epoch (``train.stage2_inputs: augmented``): the model's outputs over ``split``
    through the training transform, with crops seeded by (seed, epoch, image), so a resumed stage 2 sees
    the same ones."""
    t = trainer
    task, seed = t.aesthetic, t.config.train.seed

    def outputs(epoch: int) -> FrozenOutputs:
        keys = [(i, derive_seed(seed, STREAM_STAGE2_INPUTS, epoch, i))
                for i in shard(len(task.splits[split]), t.dist.rank, t.dist.world_size)]
        loader = t.loader(task, split, train=True, sampler=keys)  # type: ignore[arg-type]
        pred = t.predict_split(task, split, f"stage 2 inputs {epoch}", loader=loader)
        return FrozenOutputs(*(np.asarray(x, dtype=np.float32) for x in (
            pred.aesthetic, pred.personality, pred.target[:, 0])))

    return outputs


class Stage2Saver:
    """Stage 2's side of a run: an epoch row, a checkpoint after every SGD epoch, a stop when signalled."""

    def __init__(self, trainer: Trainer, frozen: FrozenOutputs, stage1_steps: int):
        self.trainer, self.frozen, self.stage1_steps = trainer, frozen, stage1_steps

    def save(self, state: SGDState) -> None:
        t = self.trainer
        with torch.no_grad():  # the checkpoint's model holds the w reached so far
            t.model.inter_task.copy_(state.weights)
        t.checkpoints.save(lambda rngs: Stage2State(t.run_state(state.optimizer, state.scheduler, rngs),
                                                    state.epoch, self.frozen, self.stage1_steps))

    def on_epoch(self, done: SGDEpoch) -> None:
        t = self.trainer
        t.logger.epoch({"stage": 2, "epoch": done.epoch, "lr_inter_task": done.lr, "loss_final": done.loss},
                       x=self.stage1_steps + done.epoch)
        stop = t.dist.any(t.stop.received is not None)
        self.save(done.state)
        if stop:
            raise t.checkpoints.interrupted(t.stop.received)


def stage2_summary(solver: str, frozen: FrozenOutputs, w: np.ndarray, w_lstsq: np.ndarray) -> dict[str, Any]:
    """The stage-2 entry of the run's results: the solution used, the exact one, and L for each."""
    return {
        "solver": solver,
        "weights": dict(zip(TRAITS, map(float, w))),
        "train_mse": stage2_mse(frozen, w),
        "lstsq_weights": dict(zip(TRAITS, map(float, w_lstsq))),
        "lstsq_train_mse": stage2_mse(frozen, w_lstsq),
        "train_mse_without_w": stage2_mse(frozen, np.zeros(len(w))),
    }


def finish_run(trainer: Trainer, stage2: Optional[dict[str, Any]]) -> dict[str, Any]:
    """Test metrics, the model file, ``test_metrics.json``, the test predictions and the weights plot;
    returns the results."""
    t = trainer
    test: dict[str, Any] = {}
    if t.aesthetic.splits["test"]:
        pred = t.predict_split(t.aesthetic, "test", desc="test")
        test = aesthetic_metrics(pred.score, pred.target[:, 0])
        if t.dist.is_main:
            paths = [r.path for r in t.aesthetic.splits["test"]]
            write_predictions(t.run_dir / PREDICTIONS_FILE, paths, pred)
        if stage2 is not None:  # the exact eq. (6) solution on the same outputs: did SGD get there?
            w = np.array([stage2["lstsq_weights"][trait] for trait in TRAITS])
            exact = final_score(pred.aesthetic, pred.personality, w)
            stage2 = {**stage2, "lstsq_test": aesthetic_metrics(exact, pred.target[:, 0])}
    result: dict[str, Any] = {
        "test": test,
        "val": t.evaluate("val"),
        "inter_task_weights": t.model.inter_task_weights(),
        "best_epoch": t.best_epoch,
        "stage2": stage2,
        "data": {"aesthetic": t.aesthetic.sizes(),
                 "personality": t.personality.sizes() if t.personality else None,
                 "skipped": {"aesthetic": t.aesthetic.source.skip_summary(),
                             "personality": t.personality.source.skip_summary() if t.personality else None}},
        "training": {"world_size": t.dist.world_size, "precision": t.config.train.precision},
    }
    if t.personality is not None and t.personality.splits["test"]:
        pred = t.predict_split(t.personality, "test", desc="traits")
        result["personality"] = personality_metrics(pred.personality, pred.target)
    if t.dist.is_main:
        save_model(t.run_dir, t.model, t.pre,
                   extra={"personality_trained": t.personality is not None, "stage2": json_safe(stage2)})
        write_json(t.run_dir / "test_metrics.json", json_safe(result))
        from ..evaluation.report import plot_inter_task_weights

        plot_inter_task_weights(t.model.inter_task_weights(), t.run_dir / "inter_task_weights.png")
    return json_safe(result)


def train(config: Config, *, resume: bool = False, losses: Optional[Losses] = None,
          schedule: Optional[AlternationSchedule] = None) -> dict[str, Any]:
    """Run the whole protocol (or continue it from ``RUN_DIR/checkpoints``); returns the final metrics."""
    try:
        return Trainer(config, resume=resume, losses=losses, schedule=schedule).run()
    finally:
        shutdown_distributed()
