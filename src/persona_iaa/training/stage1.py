"""Stage 1: the alternating loop over the schedule's steps, its reports, the kept epoch and checkpoints.

One *step* is the batches the :class:`~persona_iaa.training.schedule.AlternationSchedule` hands out
(the paper's: one aesthetic, one personality batch), trained by
:func:`~persona_iaa.training.step.train_step`. Reports come every ``train.log_every`` steps (and at
epoch ends and step checkpoints); with ``train.log_grad_norms`` those steps, and only those, measure
each task's gradient norm on the backbone for the report. Checkpoints
at every epoch end, every ``checkpoint_every`` steps, every ``checkpoint_minutes`` and on SIGTERM/SIGINT.
Positions count global batches and the personality stream's items, so a resumed run (on any number of
ranks) continues with the very batches an uninterrupted run would have seen.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterator, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data.loading import EpochSampler, StreamSampler
from ..data.records import AESTHETIC, PERSONALITY
from ..errors import TrainingError
from .monitor import LossWindow, mean_loss
from .schedule import StepBatches
from .state import BestEpoch, Stage1Position, Stage1State
from .step import set_trainable, train_step

if TYPE_CHECKING:
    from .protocol import Trainer

#: Independent random streams derived from train.seed (stage 2 uses 2, see :mod:`.stage2`).
STREAM_AESTHETIC, STREAM_PERSONALITY = 0, 1
#: Validation metrics that can select the kept epoch; the errors are better when lower.
#: "last" keeps the last epoch whatever validation says (the paper's).
SELECT_METRICS: tuple[str, ...] = ("srocc", "plcc", "krcc", "acc", "rmse", "mae", "last")
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae"})


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def selection_score(val: dict[str, Any], metric: str, epoch: int = 0) -> float:
    """The validation result as "higher is better" (-inf without a validation split or on NaN);
    for ``last`` the epoch itself, so every epoch replaces the one before."""
    if metric == "last":
        return float(epoch)
    score = val.get(metric, float("nan")) if val else float("nan")
    return -float("inf") if score != score else (-score if metric in LOWER_IS_BETTER else score)


def stage1_data(trainer: "Trainer", position: Stage1Position
                ) -> tuple[EpochSampler, DataLoader, Optional[Iterator[Any]]]:
    """The aesthetic epochs' sampler and loader, and the endless personality batches from ``position``."""
    tc, rank, world = trainer.config.train, trainer.dist.rank, trainer.dist.world_size
    sampler = EpochSampler(len(trainer.aesthetic.splits["train"]), seed=tc.seed, rank=rank, world_size=world,
                           stream=STREAM_AESTHETIC)
    loader = trainer.loader(trainer.aesthetic, "train", True, trainer.batch_size, sampler)
    if trainer.personality is None:
        return sampler, loader, None
    stream = StreamSampler(len(trainer.personality.splits["train"]), seed=tc.seed, rank=rank,
                           world_size=world, start=position.personality, stream=STREAM_PERSONALITY)
    personality = trainer.loader(trainer.personality, "train", True, trainer.personality_batch_size, stream)
    return sampler, loader, iter(personality)


class Stage1Loop:
    """Stage 1 of one run, from the start or from a stage-1 checkpoint."""

    def __init__(self, trainer: "Trainer", resume: Optional[Stage1State] = None):
        self.trainer = trainer
        set_trainable(trainer.model, 1)
        self.optimizer = trainer.optimizer(1)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer,
                                                                gamma=trainer.config.optim.lr_decay)
        self.schedule = trainer.schedule
        self.position, self.best = Stage1Position(), BestEpoch()
        if resume is not None:
            self._restore(resume)
        trainer.best_epoch = self.best.epoch
        self.context = trainer.step_context(self.optimizer)
        self.sampler, self.loader, self.personality = stage1_data(trainer, self.position)
        self.n_batches = -(-self.sampler.num_samples // trainer.batch_size)
        self.window = LossWindow()
        self._report_started = time.perf_counter()

    def _restore(self, state: Stage1State) -> None:
        if state.schedule is not None and tuple(state.schedule) != self.schedule.pattern:
            raise TrainingError(f"the run was trained with the alternation {list(state.schedule)}, not "
                                f"{list(self.schedule.pattern)}: resume it with the same schedule")
        self.trainer.restore_run(state.run, state.log_x, self.optimizer, self.scheduler)
        self.position, self.best = state.position, state.best

    def run(self) -> None:
        """The remaining epochs; afterwards the model holds the kept epoch's weights."""
        for epoch in range(self.position.epoch, self.trainer.config.train.epochs + 1):
            self._epoch(epoch)
        if self.best.state is not None:
            self.trainer.model.load_state_dict(self.best.state)

    def _epoch(self, epoch: int) -> None:
        t = self.trainer
        self.sampler.start_at(epoch, self.position.batch * t.batch_size)
        t.model.train()
        lrs = {g["name"]: g["lr"] for g in self.optimizer.param_groups}
        started = self._report_started = time.perf_counter()
        images = 0
        sources: dict[str, Iterator[Any]] = {AESTHETIC: iter(self.loader)}
        if self.personality is not None:
            sources[PERSONALITY] = self.personality
        with tqdm(total=self.n_batches, initial=self.position.batch, leave=False,
                  desc=f"stage 1 epoch {epoch}/{t.config.train.epochs}",
                  disable=None if t.dist.is_main else True) as bar:
            while (batches := self.schedule.next_step(sources)) is not None:
                done_before = self.position.batch
                images += self._step(batches)
                bar.update(self.position.batch - done_before)
                self._after_step(epoch, lrs, bar)
        self.scheduler.step()
        self._end_epoch(epoch, lrs, images, time.perf_counter() - started)

    def _step(self, batches: StepBatches) -> int:
        """Train one step, keep its losses for the next report, move the position on; its image count.

        A step whose report is due measures its gradient norms when ``train.log_grad_norms`` asks.
        """
        after = self.schedule.advance(self.position, batches, self.trainer.personality_global_batch)
        measure = self.trainer.config.train.log_grad_norms and self._report_scheduled(after)
        images = 0
        for done in train_step(self.context, batches, measure):
            self.window.add(after.step, done.task, done.loss, done.images, done.grad_norm)
            images += done.images
        self.position = after
        return images

    def _report_scheduled(self, position: Stage1Position) -> bool:
        """Whether the step that ends at ``position`` reports whatever happens: every ``log_every`` steps,
        at the epoch's end and at a step checkpoint (a stop signal adds reports no one can foresee)."""
        tc, step = self.trainer.config.train, position.step
        checkpoint_step = bool(tc.checkpoint_every) and step % tc.checkpoint_every == 0
        return step % tc.log_every == 0 or position.batch == self.n_batches or checkpoint_step

    def _after_step(self, epoch: int, lrs: dict[str, float], bar: tqdm) -> None:
        """Report, checkpoint and stop when due (reports are where the ranks agree)."""
        t, tc, step = self.trainer, self.trainer.config.train, self.position.step
        checkpoint_step = bool(tc.checkpoint_every) and step % tc.checkpoint_every == 0
        stop_now = t.stop.received is not None and not t.dist.distributed  # ranks agree at reports
        if not (self._report_scheduled(self.position) or stop_now):
            return
        stop, checkpoint_due = self._report(epoch, lrs, bar)
        if stop or checkpoint_due or checkpoint_step:
            self._save()
        if stop:
            raise t.checkpoints.interrupted(t.stop.received)

    def _report(self, epoch: int, lrs: dict[str, float], bar: tqdm) -> tuple[bool, bool]:
        """Check and log the losses since the last report; returns (stop requested, checkpoint due)."""
        t, position = self.trainer, self.position
        seconds = time.perf_counter() - self._report_started
        due = t.checkpoints.due(t.config.train.checkpoint_minutes)
        stats = self.window.flush(t.dist, flags=[float(t.stop.received is not None), float(due)])
        if stats.first_bad is not None:
            raise t.checkpoints.diverged(1, *stats.first_bad)
        for name in stats.images:
            position.sums[name] = position.sums.get(name, 0.0) + stats.sums[name]
            position.images[name] = position.images.get(name, 0) + stats.images[name]
        row = {"stage": 1, "epoch": epoch, "step": position.step, "loss_aesthetic": stats.mean(AESTHETIC),
               "loss_personality": stats.mean(PERSONALITY), **{f"lr_{k}": v for k, v in lrs.items()},
               "images_per_second": sum(stats.images.values()) / max(seconds, 1e-9),
               **stats.grad_norm_columns()}
        t.logger.step(row)
        shown = ("loss_aesthetic", "loss_personality", "images_per_second")
        bar.set_postfix({k.replace("loss_", ""): f"{v:.4g}" for k, v in row.items()
                         if k in shown and v is not None})
        self._report_started = time.perf_counter()
        return stats.flags[0] > 0, stats.flags[1] > 0

    def _end_epoch(self, epoch: int, lrs: dict[str, float], images: int, train_seconds: float) -> None:
        """Validate, log the epoch row, keep the best epoch's weights, checkpoint, stop if asked."""
        t, position = self.trainer, self.position
        started = time.perf_counter()
        val = t.evaluate("val")
        seconds = train_seconds + time.perf_counter() - started
        t.logger.epoch({
            "stage": 1, "epoch": epoch, **{f"lr_{k}": v for k, v in lrs.items()},
            "loss_aesthetic": mean_loss(position.sums, position.images, AESTHETIC),
            "loss_personality": mean_loss(position.sums, position.images, PERSONALITY),
            **{f"val_{k}": v for k, v in val.items() if k != "n"},
            "seconds": seconds, "step": position.step,
            "images_per_second": images * t.dist.world_size / train_seconds,
        }, x=position.step)
        score = selection_score(val, t.config.train.select_metric, epoch)
        if self.best.accepts(score):
            self.best = BestEpoch(score, epoch, cpu_state(t.model))
            t.best_epoch = epoch
        self.position = position.next_epoch()
        stop = t.dist.any(t.stop.received is not None)
        self._save()
        if stop:
            raise t.checkpoints.interrupted(t.stop.received)

    def _save(self) -> None:
        t = self.trainer
        t.checkpoints.save(lambda rngs: Stage1State(
            t.run_state(self.optimizer.state_dict(), self.scheduler.state_dict(), rngs),
            self.position, self.best, self.schedule.pattern))
