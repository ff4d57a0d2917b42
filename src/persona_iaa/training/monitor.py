"""What a run reports while it trains: step and epoch rows to the log, CSV files and TensorBoard.

``metrics.csv`` has one row per epoch (both stages), ``steps.csv`` one row every ``train.log_every``
stage-1 steps (losses averaged over those steps, learning rates, images/s and, with
``train.log_grad_norms``, each task's gradient norm on the shared backbone); TensorBoard gets the same
scalars under ``RUN_DIR/tensorboard`` when the optional ``tensorboard`` package is installed. Losses
and norms stay on the device between reports (:class:`LossWindow`), so logging costs one host sync per
report.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from ..extras import missing_extra_message
from ..files import atomic_write
from .distributed import DistContext

log = logging.getLogger(__name__)

EPOCH_FIELDS = ["stage", "epoch", "lr_backbone", "lr_heads", "lr_inter_task", "loss_aesthetic",
                "loss_personality", "loss_final", "val_srocc", "val_plcc", "val_krcc", "val_rmse",
                "val_mse", "val_mae", "val_acc", "seconds", "step", "images_per_second"]
STEP_FIELDS = ["stage", "epoch", "step", "loss_aesthetic", "loss_personality", "lr_backbone", "lr_heads",
               "images_per_second"]
GRAD_NORM_PREFIX = "grad_norm_"


def step_fields(grad_norm_tasks: Sequence[str] = ()) -> list[str]:
    """The columns of ``steps.csv``: the usual ones, then a gradient-norm column per measured task (new
    columns go last, so readers that index the old ones by position keep working)."""
    return STEP_FIELDS + [GRAD_NORM_PREFIX + task for task in grad_norm_tasks]


def mean_loss(sums: dict[str, float], images: dict[str, int], name: str) -> Optional[float]:
    """Mean of a loss from its sum over images (None when no image had that loss)."""
    return sums[name] / images[name] if images.get(name) else None


@dataclasses.dataclass
class WindowStats:
    """Losses of one report window, summed over ranks."""

    sums: dict[str, float]  # loss x images, per loss name
    images: dict[str, int]  # images seen on all ranks, per loss name
    flags: list[float]  # the flags passed to flush, summed over ranks
    #: (step, loss name, value) of the first non-finite loss
    first_bad: Optional[tuple[int, str, float]] = None
    #: per task, the mean gradient norm on the shared layers over the window's measured batches
    grad_norms: dict[str, float] = dataclasses.field(default_factory=dict)

    def mean(self, name: str) -> Optional[float]:
        return mean_loss(self.sums, self.images, name)

    def grad_norm_columns(self) -> dict[str, float]:
        """The ``steps.csv`` cells of the norms (none when the window measured no step)."""
        return {GRAD_NORM_PREFIX + task: value for task, value in self.grad_norms.items()}


class LossWindow:
    """Per-step losses (and measured gradient norms) since the last report, kept on the device until
    :meth:`flush`."""

    def __init__(self) -> None:
        self._losses: list[torch.Tensor] = []
        self._labels: list[tuple[int, str, int]] = []
        self._norms: list[torch.Tensor] = []
        self._norm_tasks: list[str] = []

    def add(self, step: int, name: str, loss: torch.Tensor, images: int,
            grad_norm: Optional[torch.Tensor] = None) -> None:
        self._losses.append(loss.detach().float().reshape(()))
        self._labels.append((step, name, images))
        if grad_norm is not None:
            self._norms.append(grad_norm.detach().float().reshape(()).to(self._losses[-1].device))
            self._norm_tasks.append(name)

    def flush(self, ctx: DistContext, flags: Sequence[float] = ()) -> WindowStats:
        """One all-reduce of the window's losses and ``flags``: every rank gets the same answer.

        A loss is non-finite when it is on any rank, so all ranks stop at the same step.
        """
        device = self._losses[0].device if self._losses else ctx.device
        values = torch.cat([torch.stack(tensors) if tensors else torch.zeros(0, device=device)
                            for tensors in (self._losses, self._norms)]
                           + [torch.tensor(list(flags), dtype=torch.float32, device=device)])
        values = ctx.all_sum(values).cpu()
        n, m = len(self._losses), len(self._norms)
        losses, summed_flags = values[:n] / ctx.world_size, values[n + m:].tolist()
        stats = WindowStats({}, {}, summed_flags,
                            grad_norms=self._mean_norms(values[n:n + m] / ctx.world_size))
        for (step, name, images), value in zip(self._labels, losses.tolist()):
            if not math.isfinite(value):
                stats.first_bad = (step, name, value)
                break
            stats.sums[name] = stats.sums.get(name, 0.0) + value * images * ctx.world_size
            stats.images[name] = stats.images.get(name, 0) + images * ctx.world_size
        self._losses, self._labels, self._norms, self._norm_tasks = [], [], [], []
        return stats

    def _mean_norms(self, norms: torch.Tensor) -> dict[str, float]:
        """Per task, the mean of its measured norms (all ranks hold the same all-reduced gradients, so
        the mean over ranks is each rank's value)."""
        values: dict[str, list[float]] = {}
        for task, value in zip(self._norm_tasks, norms.tolist()):
            values.setdefault(task, []).append(value)
        return {task: sum(v) / len(v) for task, v in values.items()}


def _write_text(path: Path, text: str) -> None:
    """Replace a log file atomically: a crash leaves the old rows or the new ones, never half of them."""

    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    atomic_write(path, write)


def _format(row: dict[str, Any]) -> str:
    shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items() if v is not None}
    return "  ".join(f"{k}={v}" for k, v in shown.items())


class RunLogger:
    """Writes the run's reports; on ranks other than 0 it only keeps the epoch history."""

    def __init__(self, run_dir: Path, *, enabled: bool, tensorboard: bool,
                 step_columns: Optional[Sequence[str]] = None):
        self.run_dir, self.enabled, self.tensorboard = run_dir, enabled, tensorboard and enabled
        self.step_columns = list(step_columns or STEP_FIELDS)
        self.history: list[dict[str, Any]] = []
        self._writer: Any = None
        self._purge_step: Optional[int] = None

    # -- resume -------------------------------------------------------------------------------------
    def restore(self, history: list[dict[str, Any]], x: int) -> None:
        """Continue the logs of a resumed run: drop what was logged after its checkpoint at ``x``.

        ``x`` is the logs' axis: stage-1 steps, then stage-1 steps plus stage-2 epochs. ``steps.csv`` is
        rewritten with this run's columns, so a run resumed with other columns (``train.log_grad_norms``
        switched) keeps one header: the old rows have no cells for the new columns.
        """
        self.history = [dict(row) for row in history]
        self._purge_step = x + 1
        if not self.enabled:
            return
        self._write_epochs()
        steps_file = self.run_dir / "steps.csv"
        if steps_file.is_file():
            with steps_file.open(newline="") as handle:
                kept = [r for r in csv.DictReader(handle) if int(r["step"]) <= x]
            _write_text(steps_file, self._csv(self.step_columns, kept))

    # -- reports ------------------------------------------------------------------------------------
    def step(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        steps_file = self.run_dir / "steps.csv"
        new = not steps_file.is_file()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with steps_file.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.step_columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)
        self._scalars(f"stage{row['stage']}", row, row["step"])

    def epoch(self, row: dict[str, Any], x: int) -> None:
        """An epoch row (``metrics.csv``); ``x`` places it on TensorBoard's axis."""
        self.history.append(row)
        if not self.enabled:
            return
        log.info("%s", _format(row))
        self._write_epochs()
        self._scalars(f"stage{row['stage']}_epoch", row, x)

    def note(self, text: str) -> None:
        """A line for the person watching the run (rank 0 only), through :mod:`logging`."""
        if self.enabled:
            log.info("%s", text)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- files --------------------------------------------------------------------------------------
    @staticmethod
    def _csv(fields: list[str], rows: list[dict[str, Any]]) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def _write_epochs(self) -> None:
        text = self._csv(EPOCH_FIELDS, self.history)
        _write_text(self.run_dir / "metrics.csv", text)

    def _scalars(self, prefix: str, row: dict[str, Any], x: int) -> None:
        writer = self._tensorboard_writer()
        if writer is None:
            return
        for key, value in row.items():
            if key not in ("stage", "epoch", "step") and isinstance(value, (int, float)) and value == value:
                writer.add_scalar(f"{prefix}/{key}", value, x)

    def _tensorboard_writer(self) -> Any:
        if self._writer is None and self.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self.tensorboard = False
                self.note(f"TensorBoard logging is off: {missing_extra_message('tensorboard', 'it')}")
                return None
            self._writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=self._purge_step)
        return self._writer
