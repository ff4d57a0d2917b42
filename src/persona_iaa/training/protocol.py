"""The paper's two-stage training protocol, on one process or many, resumable at any moment.

Stage 1 alternates one aesthetic batch (L_a) and one personality batch (L_p) through the shared network
(one *step* = that pair); the personality domain is an endless seeded stream. SGD (momentum 0.9,
weight decay 1e-5) with learning rates per group (backbone 1e-5, heads 1e-4) times 0.9 after every
epoch; the epoch with the best validation SROCC is kept. Stage 2 freezes everything but the five
inter-task weights ``w`` and fits them with L on aesthetic data. Because nothing before ``w`` changes in
stage 2, the frozen outputs (s_a, s_p) are computed once and stage 2 iterates over them: the same
optimisation at a fraction of the cost. ``inter_task_solver: lstsq`` instead solves eq. (6) for ``w``
exactly; both solutions are always recorded so a run shows whether SGD converged.

Under torchrun each rank trains on its share of every global batch (``data.batch_size`` is the global
batch), so the sequence of global batches, and with it the optimisation, is the one of a single process.
Stage 2 runs the same deterministic fit on every rank from gathered outputs. Checkpoints (every epoch,
every ``checkpoint_minutes``/``checkpoint_every`` steps, and on SIGTERM/SIGINT) carry the whole state;
randomness derives from (seed, epoch, sample), so a resumed run reaches the weights of an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import signal
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from ..config import Config, check_loader_settings
from ..constants import TRAITS
from ..data.loading import (
    EpochSampler,
    RecordDataset,
    StreamSampler,
    make_loader,
    shard,
)
from ..data.records import AESTHETIC, PERSONALITY
from ..data.registry import TaskData, load_task_data
from ..data.transforms import eval_transform, train_transform
from ..errors import ConfigError, TrainingError
from ..evaluation.evaluate import Predictions, predict
from ..evaluation.metrics import aesthetic_metrics, json_safe, personality_metrics
from ..models.pdmtl import PersonalityDrivenIAA, build_model
from ..files import write_json
from ..runtime import StopSignals, derive_seed, seed_everything
from .checkpoint import (
    CHECKPOINT_DIR,
    capture_rng,
    load_latest_checkpoint,
    restore_rng,
    save_checkpoint,
    save_model,
)
from .distributed import (
    DistContext,
    init_distributed,
    shutdown_distributed,
    sync_buffers,
    unshard,
    wrap_for_training,
)
from .losses import aesthetic_loss, final_loss, personality_loss
from .monitor import LossWindow, RunLogger, mean_loss
from .precision import Precision

#: Independent random streams derived from train.seed.
STREAM_AESTHETIC, STREAM_PERSONALITY, STREAM_STAGE2 = 0, 1, 2


#: Validation metrics that can select the kept epoch; the errors are better when lower.
SELECT_METRICS: tuple[str, ...] = ("srocc", "plcc", "krcc", "acc", "rmse", "mae")
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae"})


def fit_inter_task_lstsq(aesthetic: np.ndarray, personality: np.ndarray, target: np.ndarray) -> np.ndarray:
    """w minimising sum_i (s_a_i + w . s_p_i - s_i)^2 (eq. 6) exactly, by least squares."""
    solution, *_ = np.linalg.lstsq(personality.astype(np.float64), (target - aesthetic).astype(np.float64), rcond=None)
    return solution


def final_mse(aesthetic: np.ndarray, personality: np.ndarray, target: np.ndarray, w: np.ndarray) -> float:
    return float(np.mean((aesthetic + personality @ w - target) ** 2))


class TaskForward(nn.Module):
    """The shared backbone and the one head a batch trains: DDP then waits only for gradients that come."""

    def __init__(self, model: PersonalityDrivenIAA):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, task: str) -> torch.Tensor:
        features = self.model.backbone(images)
        if task == AESTHETIC:
            return self.model.aesthetic_head(features).squeeze(-1)
        return self.model.personality_head(features)


@dataclasses.dataclass
class Stage1Position:
    """Where stage 1 stands; positions count global batches, so they hold for any number of ranks."""

    epoch: int = 1  # the epoch in progress (1-based)
    batch: int = 0  # global batches done in it
    step: int = 0  # stage-1 steps done in all
    personality: int = 0  # items of the global personality stream consumed
    #: loss x images and images per loss name, over the epoch so far
    sums: dict[str, float] = dataclasses.field(default_factory=dict)
    images: dict[str, int] = dataclasses.field(default_factory=dict)


class TrainingInterrupted(Exception):
    """SIGTERM/SIGINT stopped the run after its checkpoint was saved; ``train --resume`` continues it."""

    def __init__(self, signum: int, checkpoint: Optional[Path]):
        super().__init__(f"{signal.Signals(signum).name}: stopped after saving {checkpoint}")
        self.signum, self.checkpoint = signum, checkpoint


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


class Trainer:
    """Runs the protocol for one :class:`Config` and writes the run directory (rank 0 only)."""

    def __init__(self, config: Config, model: Optional[PersonalityDrivenIAA] = None, *, resume: bool = False):
        self.config = config
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
        if tc.select_metric not in SELECT_METRICS:
            raise ConfigError(f"train.select_metric must be one of {', '.join(SELECT_METRICS)}, not {tc.select_metric!r}")
        check_loader_settings(config.data)
        self.dist: DistContext = init_distributed(tc.device)
        self.device = self.dist.device
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
        self.precision = Precision(tc.precision, self.device)
        self.batch_size = self.dist.per_rank(config.data.batch_size, "data.batch_size")
        self.personality_batch_size = self.dist.per_rank(
            config.data.personality_batch_size or config.data.batch_size, "data.personality_batch_size")
        seed_everything(tc.seed)
        self.run_dir = Path(tc.output)
        split_policy = dict(val_fraction=config.data.val_fraction, test_fraction=config.data.test_fraction,
                            seed=tc.seed)
        self.aesthetic = load_task_data(config.data.aesthetic, AESTHETIC, config.data.aesthetic_options,
                                        **split_policy)
        self.personality = (load_task_data(config.data.personality, PERSONALITY, config.data.personality_options,
                                           **split_policy)
                            if tc.personality else None)
        for task in (self.aesthetic, self.personality):
            cached = task.source.info.get("image_size") if task is not None else None
            if cached is not None and cached < config.data.image_size:
                raise ConfigError(f"{task.source.spec} was prepared at {cached} px, smaller than "
                                  f"data.image_size={config.data.image_size}: prepare it again at that size")
        self.memory_format = torch.channels_last if tc.channels_last else torch.contiguous_format
        self.model = (model or build_model(config.model.backbone, config.model.backbone_weights,
                                           hidden_dims=config.model.hidden_dims)).to(self.device,
                                                                                      memory_format=self.memory_format)
        self.pre = self.model.preprocessing_at(config.data.image_size, config.data.crop_size)  # backbone's mean/std
        self.resume = resume
        self.logger = RunLogger(self.run_dir, enabled=self.dist.is_main, tensorboard=tc.tensorboard)
        self.stop = StopSignals()
        self.best_epoch: Optional[int] = None
        self.last_checkpoint: Optional[Path] = None
        self._last_save = time.monotonic()

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

    def predict_split(self, task: TaskData, split: str, desc: str) -> Predictions:
        """The model's outputs over a whole split, each rank predicting its share, gathered on all ranks."""
        sync_buffers(self.model, self.dist)
        with self.precision.autocast():
            local = predict(self.model, self.loader(task, split, train=False), self.device, desc=desc)
        if not self.dist.distributed:
            return local
        parts = self.dist.all_gather(local)
        return Predictions(*(unshard([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Predictions)))

    def evaluate(self, split: str) -> dict[str, Any]:
        if not self.aesthetic.splits[split]:
            return {}
        pred = self.predict_split(self.aesthetic, split, desc=split)
        return aesthetic_metrics(pred.score, pred.target[:, 0])

    # -- optimisation -------------------------------------------------------------------------------
    def initial_learning_rates(self) -> dict[str, float]:
        opt = self.config.optim
        return {"backbone": opt.lr_backbone, "heads": opt.lr_heads, "inter_task": opt.lr_inter_task}

    def optimizer(self, stage: int) -> torch.optim.SGD:
        opt, groups, rates = self.config.optim, self.model.parameter_groups(), self.initial_learning_rates()
        names = ("backbone", "heads") if stage == 1 else ("inter_task",)
        param_groups = [{"params": groups[name], "lr": rates[name], "name": name} for name in names]
        return torch.optim.SGD(param_groups, lr=param_groups[0]["lr"], momentum=opt.momentum,
                               weight_decay=opt.weight_decay)

    def set_trainable(self, stage: int) -> None:
        groups = self.model.parameter_groups()
        for name, params in groups.items():
            for p in params:
                p.requires_grad_((stage == 1) != (name == "inter_task"))

    def training_module(self) -> nn.Module:
        """What stage 1 calls forward on: :class:`TaskForward`, under DDP and torch.compile as configured."""
        tc = self.config.train
        return wrap_for_training(TaskForward(self.model), self.dist, sync_batchnorm=tc.sync_batchnorm,
                                 compile_module=tc.compile)

    def train_batch(self, module: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                    targets: torch.Tensor, task: str) -> torch.Tensor:
        """One optimisation step on one batch of ``task`` through ``module`` (a :class:`TaskForward`,
        possibly wrapped by DDP/compile), in the run's precision and memory format; returns the loss."""
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        targets = targets.to(self.device, non_blocking=True)
        with self.precision.autocast():
            predicted = module(images, task)
        loss = (aesthetic_loss if task == AESTHETIC else personality_loss)(predicted, targets)
        self.precision.step(optimizer, loss)
        return loss.detach()

    def stage1(self, resume: Optional[dict[str, Any]] = None) -> None:
        """Alternating training; ``resume`` is a stage-1 checkpoint to continue from."""
        cfg, tc = self.config, self.config.train
        self.set_trainable(1)
        optimizer = self.optimizer(1)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.optim.lr_decay)
        position, best = Stage1Position(), {"score": -float("inf"), "epoch": None, "state": None}
        if resume is not None:
            self._restore(resume, optimizer, scheduler, x=resume["position"]["step"])
            position, best = Stage1Position(**resume["position"]), resume["best"]
        self.best_epoch = best["epoch"]
        module, world = self.training_module(), self.dist.world_size
        aesthetic_sampler, aesthetic_loader, personality_batches = self._stage1_data(position)
        n_batches = -(-aesthetic_sampler.num_samples // self.batch_size)
        window = LossWindow()
        for epoch in range(position.epoch, tc.epochs + 1):
            aesthetic_sampler.start_at(epoch, position.batch * self.batch_size)
            self.model.train()
            lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
            started = report_started = time.perf_counter()
            images_this_run = 0
            bar = tqdm(total=n_batches, initial=position.batch, desc=f"stage 1 epoch {epoch}/{tc.epochs}",
                       leave=False, disable=None if self.dist.is_main else True)
            for images, targets, _ in aesthetic_loader:
                step = position.step + 1
                window.add(step, AESTHETIC, self.train_batch(module, optimizer, images, targets, AESTHETIC), len(images))
                images_this_run += len(images)
                if personality_batches is not None:
                    p_images, p_targets, _ = next(personality_batches)
                    loss = self.train_batch(module, optimizer, p_images, p_targets, PERSONALITY)
                    window.add(step, PERSONALITY, loss, len(p_images))
                    images_this_run += len(p_images)
                    position.personality += self.personality_batch_size * world
                position.batch, position.step = position.batch + 1, step
                bar.update()
                checkpoint_step = bool(tc.checkpoint_every) and step % tc.checkpoint_every == 0
                stop_now = self.stop.received is not None and not self.dist.distributed  # ranks agree at reports
                if not (step % tc.log_every == 0 or position.batch == n_batches or checkpoint_step or stop_now):
                    continue
                stop, checkpoint_due = self._report(window, position, epoch, lrs, bar, time.perf_counter() - report_started)
                report_started = time.perf_counter()
                if stop or checkpoint_due or checkpoint_step:
                    self._save_stage1(position, best, optimizer, scheduler)
                if stop:
                    bar.close()
                    raise TrainingInterrupted(self.stop.received or signal.SIGTERM, self.last_checkpoint)
            bar.close()
            scheduler.step()
            best = self._end_epoch(epoch, position, best, lrs, images_this_run, time.perf_counter() - started)
            position = dataclasses.replace(position, epoch=epoch + 1, batch=0, sums={}, images={})
            stop = self.dist.any(self.stop.received is not None)
            self._save_stage1(position, best, optimizer, scheduler)
            if stop:
                raise TrainingInterrupted(self.stop.received or signal.SIGTERM, self.last_checkpoint)
        if best["state"] is not None:
            self.model.load_state_dict(best["state"])

    def _stage1_data(self, position: Stage1Position) -> tuple[EpochSampler, DataLoader, Optional[Iterator]]:
        """The aesthetic epochs' sampler and loader, and the endless personality batches from ``position``."""
        tc, rank, world = self.config.train, self.dist.rank, self.dist.world_size
        sampler = EpochSampler(len(self.aesthetic.splits["train"]), seed=tc.seed, rank=rank, world_size=world,
                               stream=STREAM_AESTHETIC)
        loader = self.loader(self.aesthetic, "train", True, self.batch_size, sampler)
        if self.personality is None:
            return sampler, loader, None
        stream = StreamSampler(len(self.personality.splits["train"]), seed=tc.seed, rank=rank, world_size=world,
                               start=position.personality, stream=STREAM_PERSONALITY)
        return sampler, loader, iter(self.loader(self.personality, "train", True, self.personality_batch_size, stream))

    def _end_epoch(self, epoch: int, position: Stage1Position, best: dict[str, Any], lrs: dict[str, float],
                   images: int, train_seconds: float) -> dict[str, Any]:
        """Validate, log the epoch row and keep the best epoch's weights; returns the (new) best."""
        started = time.perf_counter()
        val = self.evaluate("val")
        seconds = train_seconds + time.perf_counter() - started
        self.logger.epoch({
            "stage": 1, "epoch": epoch, **{f"lr_{k}": v for k, v in lrs.items()},
            "loss_aesthetic": mean_loss(position.sums, position.images, AESTHETIC),
            "loss_personality": mean_loss(position.sums, position.images, PERSONALITY),
            **{f"val_{k}": v for k, v in val.items() if k != "n"},
            "seconds": seconds, "step": position.step, "images_per_second": images * self.dist.world_size / train_seconds,
        }, x=position.step)
        metric = self.config.train.select_metric
        score = val.get(metric, float("nan")) if val else float("nan")
        score = -float("inf") if score != score else (-score if metric in LOWER_IS_BETTER else score)
        # Ties (and runs without a validation split, where every score is -inf) keep the later epoch.
        if best["state"] is None or score >= best["score"]:
            self.best_epoch = epoch
            return {"score": score, "epoch": epoch, "state": cpu_state(self.model)}
        return best

    def _report(self, window: LossWindow, position: Stage1Position, epoch: int, lrs: dict[str, float],
                bar: tqdm, seconds: float) -> tuple[bool, bool]:
        """Check and log the losses since the last report; returns (stop requested, checkpoint due)."""
        minutes = self.config.train.checkpoint_minutes
        due = self.dist.is_main and minutes > 0 and time.monotonic() - self._last_save >= minutes * 60
        stats = window.flush(self.dist, flags=[float(self.stop.received is not None), float(due)])
        if stats.first_bad is not None:
            raise self._diverged(1, *stats.first_bad)
        for name in stats.images:
            position.sums[name] = position.sums.get(name, 0.0) + stats.sums[name]
            position.images[name] = position.images.get(name, 0) + stats.images[name]
        row = {"stage": 1, "epoch": epoch, "step": position.step, "loss_aesthetic": stats.mean(AESTHETIC),
               "loss_personality": stats.mean(PERSONALITY), **{f"lr_{k}": v for k, v in lrs.items()},
               "images_per_second": sum(stats.images.values()) / max(seconds, 1e-9)}
        self.logger.step(row)
        bar.set_postfix({k.replace("loss_", ""): f"{v:.4g}" for k, v in row.items()
                         if k in ("loss_aesthetic", "loss_personality", "images_per_second") and v is not None})
        return stats.flags[0] > 0, stats.flags[1] > 0

    def _diverged(self, stage: int, step: int, name: str, value: float) -> TrainingError:
        kept = (f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint
                else "no checkpoint had been written yet")
        return TrainingError(
            f"the {name} loss became {value} at stage-{stage} step {step}: training stopped and {kept}. "
            f"Lower the learning rates (or use --precision fp32) and continue with "
            f"`persona-iaa train --resume {self.run_dir} optim.lr_backbone=...`")

    # -- stage 2 ------------------------------------------------------------------------------------
    def stage2(self, resume: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """Fit w on frozen outputs of the aesthetic training split; returns both solutions.

        Every rank gathers the same outputs and runs the same fit; rank 0's ``w`` is then broadcast so
        that all ranks hold bit-identical weights whatever the hardware does.
        """
        cfg = self.config
        self.set_trainable(2)
        optimizer = self.optimizer(2)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.optim.lr_decay)
        if resume is not None:
            stage1_steps, first_epoch, frozen = resume["stage1_steps"], resume["epoch"] + 1, resume["frozen"]
            self._restore(resume, optimizer, scheduler, x=stage1_steps + resume["epoch"])
        else:
            outputs = self.predict_split(self.aesthetic, "train", desc="stage 2 outputs")
            frozen = {"aesthetic": torch.from_numpy(outputs.aesthetic).float(),
                      "personality": torch.from_numpy(outputs.personality).float(),
                      "target": torch.from_numpy(outputs.target[:, 0]).float()}
            stage1_steps, first_epoch = self._stage1_steps(), 1
            self._save_stage2(0, frozen, stage1_steps, optimizer, scheduler)
        a, p, t = (frozen[k].double().numpy() for k in ("aesthetic", "personality", "target"))
        w_lstsq = fit_inter_task_lstsq(a, p, t)
        w = self.model.inter_task
        s_a, s_p, target = (frozen[k].to(w.device) for k in ("aesthetic", "personality", "target"))
        steps_per_epoch = -(-len(target) // cfg.data.batch_size)
        if cfg.train.inter_task_solver == "sgd":
            for epoch in range(first_epoch, cfg.train.stage2_epochs + 1):
                lr = optimizer.param_groups[0]["lr"]
                generator = torch.Generator().manual_seed(derive_seed(cfg.train.seed, STREAM_STAGE2, epoch))
                order = torch.randperm(len(target), generator=generator).to(w.device)
                window = LossWindow()
                for i, start in enumerate(range(0, len(order), cfg.data.batch_size)):
                    idx = order[start:start + cfg.data.batch_size]
                    loss = final_loss(s_a[idx] + s_p[idx] @ w, target[idx])
                    self._step(optimizer, loss)
                    window.add((epoch - 1) * steps_per_epoch + i + 1, "final", loss, len(idx))
                stats = window.flush(DistContext(device=w.device))  # identical on every rank: no collective
                if stats.first_bad is not None:
                    raise self._diverged(2, *stats.first_bad)
                scheduler.step()
                self.logger.epoch({"stage": 2, "epoch": epoch, "lr_inter_task": lr, "loss_final": stats.mean("final")},
                                  x=stage1_steps + epoch)
                stop = self.dist.any(self.stop.received is not None)
                self._save_stage2(epoch, frozen, stage1_steps, optimizer, scheduler)
                if stop:
                    raise TrainingInterrupted(self.stop.received or signal.SIGTERM, self.last_checkpoint)
        else:
            with torch.no_grad():
                w.copy_(torch.as_tensor(w_lstsq, dtype=w.dtype))
        self.dist.broadcast_([w])
        w_sgd_or_final = w.detach().cpu().double().numpy()
        return {
            "solver": cfg.train.inter_task_solver,
            "weights": dict(zip(TRAITS, map(float, w_sgd_or_final))),
            "train_mse": final_mse(a, p, t, w_sgd_or_final),
            "lstsq_weights": dict(zip(TRAITS, map(float, w_lstsq))),
            "lstsq_train_mse": final_mse(a, p, t, w_lstsq),
            "train_mse_without_w": final_mse(a, p, t, np.zeros(5)),
        }

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def _stage1_steps(self) -> int:
        rows = [r for r in self.logger.history if r["stage"] == 1]
        return rows[-1]["step"] if rows else 0

    # -- checkpoints --------------------------------------------------------------------------------
    def _save(self, stage: int, counter: int, state: dict[str, Any], optimizer: torch.optim.Optimizer,
              scheduler: Any) -> None:
        """Every rank contributes its RNG states; rank 0 writes."""
        rngs = self.dist.all_gather(capture_rng())
        if self.dist.is_main:
            self.last_checkpoint = save_checkpoint(self.run_dir, {
                "stage": stage, **state, "model": cpu_state(self.model), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": self.precision.state_dict(), "rng": rngs,
                "history": json_safe(self.logger.history), "world_size": self.dist.world_size,
                "batch_size": self.config.data.batch_size,
                "personality_batch_size": self.config.data.personality_batch_size or self.config.data.batch_size,
            }, stage=stage, counter=counter, keep_last=self.config.train.keep_last)
        self._last_save = time.monotonic()

    def _save_stage1(self, position: Stage1Position, best: dict[str, Any], optimizer, scheduler) -> None:
        self._save(1, position.step, {"position": dataclasses.asdict(position), "best": best}, optimizer, scheduler)

    def _save_stage2(self, epoch: int, frozen: dict[str, torch.Tensor], stage1_steps: int, optimizer, scheduler) -> None:
        self._save(2, epoch, {"epoch": epoch, "frozen": frozen, "stage1_steps": stage1_steps}, optimizer, scheduler)

    def _restore(self, state: dict[str, Any], optimizer: torch.optim.Optimizer, scheduler: Any, x: int) -> None:
        """Load a checkpoint's state; ``x`` is its position on the logs' axis (stage-1 steps, then epochs)."""
        for key in ("batch_size", "personality_batch_size"):
            now = getattr(self.config.data, key) or self.config.data.batch_size
            if state[key] != now:
                raise TrainingError(f"the run was trained with data.{key}={state[key]}, not {now}: resume it with "
                                    "the same global batch size (the number of processes may change)")
        self.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        self._rescale_learning_rates(optimizer, scheduler)
        self.precision.load_state_dict(state["scaler"])
        rngs = state["rng"]
        restore_rng(rngs[self.dist.rank] if len(rngs) == self.dist.world_size else rngs[0])
        self.logger.restore(state["history"], x)

    def _rescale_learning_rates(self, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        """Learning rates given with --resume replace the run's: the decay so far applies to the new ones."""
        rates = self.initial_learning_rates()
        for i, group in enumerate(optimizer.param_groups):
            before, wanted = scheduler.base_lrs[i], rates[group["name"]]
            if wanted != before:
                group["lr"] *= wanted / before
                group["initial_lr"] = scheduler.base_lrs[i] = wanted
                self.logger.note(f"learning rate of the {group['name']} group: {before:g} -> {wanted:g} "
                                 f"(now {group['lr']:g} after this run's decay)")

    def latest_checkpoint(self) -> Optional[dict[str, Any]]:
        found = load_latest_checkpoint(self.run_dir)
        if found is None:
            self.logger.note(f"{self.run_dir}: no checkpoint yet, starting from the beginning")
            return None
        self.last_checkpoint, state = found
        where = (f"stage 1, epoch {state['position']['epoch']}, step {state['position']['step']}"
                 if state["stage"] == 1 else f"stage 2, after epoch {state['epoch']}")
        self.logger.note(f"resuming from {self.last_checkpoint} ({where})")
        return state

    # -- the whole run ------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        cfg = self.config
        if not self.resume and any((self.run_dir / CHECKPOINT_DIR).glob("*.pt")):
            # A new run here would mix its checkpoints and logs with the old run's.
            raise ConfigError(f"{self.run_dir} already holds a run: continue it with --resume {self.run_dir}, "
                              "or train into another --output")
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(self.run_dir / "config.yaml")
        checkpoint = self.latest_checkpoint() if self.resume else None
        try:
            with self.stop:
                if checkpoint is None or checkpoint["stage"] == 1:
                    self.stage1(checkpoint)
                    checkpoint = None
                stage2 = self.stage2(checkpoint) if self.personality is not None else None
            result = self._finish(stage2)
        finally:
            self.logger.close()
        self.dist.barrier()
        return result

    def _finish(self, stage2: Optional[dict[str, Any]]) -> dict[str, Any]:
        test: dict[str, Any] = {}
        if self.aesthetic.splits["test"]:
            pred = self.predict_split(self.aesthetic, "test", desc="test")
            test = aesthetic_metrics(pred.score, pred.target[:, 0])
            if stage2 is not None:  # the exact eq. (6) solution on the same outputs: did SGD get there?
                w = np.array([stage2["lstsq_weights"][t] for t in TRAITS])
                stage2 = {**stage2, "lstsq_test": aesthetic_metrics(pred.aesthetic + pred.personality @ w,
                                                                    pred.target[:, 0])}
        result: dict[str, Any] = {
            "test": test,
            "val": self.evaluate("val"),
            "inter_task_weights": self.model.inter_task_weights(),
            "best_epoch": self.best_epoch,
            "stage2": stage2,
            "data": {"aesthetic": self.aesthetic.sizes(),
                     "personality": self.personality.sizes() if self.personality else None,
                     "skipped": {"aesthetic": self.aesthetic.source.skip_summary(),
                                 "personality": self.personality.source.skip_summary() if self.personality else None}},
            "training": {"world_size": self.dist.world_size, "precision": self.config.train.precision},
        }
        if self.personality is not None and self.personality.splits["test"]:
            pred = self.predict_split(self.personality, "test", desc="traits")
            result["personality"] = personality_metrics(pred.personality, pred.target)
        if self.dist.is_main:
            save_model(self.run_dir, self.model, self.pre,
                       extra={"personality_trained": self.personality is not None, "stage2": json_safe(stage2)})
            write_json(self.run_dir / "test_metrics.json", json_safe(result))
            from ..evaluation.report import plot_inter_task_weights

            plot_inter_task_weights(self.model.inter_task_weights(), self.run_dir / "inter_task_weights.png")
        return json_safe(result)


def train(config: Config, *, resume: bool = False) -> dict[str, Any]:
    """Run the whole protocol (or continue it from ``RUN_DIR/checkpoints``); returns the final metrics."""
    try:
        return Trainer(config, resume=resume).run()
    finally:
        shutdown_distributed()
