"""What a run reports while it trains: step and epoch rows to the log, CSV files and TensorBoard.

``metrics.csv`` has one row per epoch (both stages), ``steps.csv`` one row every ``train.log_every``
stage-1 steps (losses averaged over those steps, learning rates, images/s); TensorBoard gets the same
scalars under ``RUN_DIR/tensorboard`` when the optional ``tensorboard`` package is installed. Losses
stay on the device between reports (:class:`LossWindow`), so logging costs one host sync per report.
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

    def mean(self, name: str) -> Optional[float]:
        return mean_loss(self.sums, self.images, name)


class LossWindow:
    """Per-step losses since the last report, kept on the device until :meth:`flush`."""

    def __init__(self) -> None:
        self._losses: list[torch.Tensor] = []
        self._labels: list[tuple[int, str, int]] = []

    def add(self, step: int, name: str, loss: torch.Tensor, images: int) -> None:
        self._losses.append(loss.detach().float().reshape(()))
        self._labels.append((step, name, images))

    def flush(self, ctx: DistContext, flags: Sequence[float] = ()) -> WindowStats:
        """One all-reduce of the window's losses and ``flags``: every rank gets the same answer.

        A loss is non-finite when it is on any rank, so all ranks stop at the same step.
        """
        device = self._losses[0].device if self._losses else ctx.device
        values = torch.cat([torch.stack(self._losses) if self._losses else torch.zeros(0, device=device),
                            torch.tensor(list(flags), dtype=torch.float32, device=device)])
        values = ctx.all_sum(values).cpu()
        n = len(self._losses)
        losses, summed_flags = values[:n] / ctx.world_size, values[n:].tolist()
        stats = WindowStats({}, {}, summed_flags)
        for (step, name, images), value in zip(self._labels, losses.tolist()):
            if not math.isfinite(value):
                stats.first_bad = (step, name, value)
                break
            stats.sums[name] = stats.sums.get(name, 0.0) + value * images * ctx.world_size
            stats.images[name] = stats.images.get(name, 0) + images * ctx.world_size
        self._losses, self._labels = [], []
        return stats


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

    def __init__(self, run_dir: Path, *, enabled: bool, tensorboard: bool):
        self.run_dir, self.enabled, self.tensorboard = run_dir, enabled, tensorboard and enabled
        self.history: list[dict[str, Any]] = []
        self._writer: Any = None
        self._purge_step: Optional[int] = None

    # -- resume -------------------------------------------------------------------------------------
    def restore(self, history: list[dict[str, Any]], x: int) -> None:
        """Continue the logs of a resumed run: drop what was logged after its checkpoint at ``x``.

        ``x`` is the logs' axis: stage-1 steps, then stage-1 steps plus stage-2 epochs.
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
            _write_text(steps_file, self._csv(STEP_FIELDS, kept))

    # -- reports ------------------------------------------------------------------------------------
    def step(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        steps_file = self.run_dir / "steps.csv"
        new = not steps_file.is_file()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with steps_file.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=STEP_FIELDS, extrasaction="ignore")
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
