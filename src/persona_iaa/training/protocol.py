"""The paper's two-stage training protocol.

Stage 1 alternates one aesthetic batch (L_a) and one personality batch (L_p) through the shared network;
the personality loader cycles as often as needed. SGD (momentum 0.9, weight decay 1e-5) with learning
rates per group (backbone 1e-5, heads 1e-4) times 0.9 after every epoch; the epoch with the best
validation SROCC is kept. Stage 2 freezes everything but the five inter-task weights ``w`` and fits them
with L on aesthetic data. Because nothing before ``w`` changes in stage 2, the frozen outputs (s_a, s_p)
are computed once and stage 2 iterates over them: the same optimisation at a fraction of the cost.
``inter_task_solver: lstsq`` instead solves eq. (6) for ``w`` exactly; both solutions are always
recorded so a run shows whether SGD converged.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..config import Config
from ..constants import TRAITS
from ..data.loading import RecordDataset, make_loader
from ..data.records import AESTHETIC, PERSONALITY, DatasetSource, Record
from ..data.registry import load_source, split_records
from ..data.transforms import Preprocessing, eval_transform, train_transform
from ..errors import ConfigError
from ..evaluation.evaluate import predict
from ..evaluation.metrics import aesthetic_metrics, json_safe, personality_metrics
from ..models.pdmtl import PersonalityDrivenIAA, build_model
from ..runtime import resolve_device, seed_everything
from .checkpoint import save_model, write_json
from .losses import aesthetic_loss, final_loss, personality_loss


@dataclasses.dataclass
class TaskData:
    """One task's parsed source and its train/val/test records."""

    source: DatasetSource
    splits: dict[str, list[Record]]

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}


def load_task_data(spec: str, task: str, config: Config, options: dict[str, Any]) -> TaskData:
    source = load_source(spec, task, options)
    splits = split_records(source.records, val_fraction=config.data.val_fraction,
                           test_fraction=config.data.test_fraction, seed=config.train.seed)
    return TaskData(source, splits)


def fit_inter_task_lstsq(aesthetic: np.ndarray, personality: np.ndarray, target: np.ndarray) -> np.ndarray:
    """w minimising sum_i (s_a_i + w . s_p_i - s_i)^2 (eq. 6) exactly, by least squares."""
    solution, *_ = np.linalg.lstsq(personality.astype(np.float64), (target - aesthetic).astype(np.float64), rcond=None)
    return solution


def final_mse(aesthetic: np.ndarray, personality: np.ndarray, target: np.ndarray, w: np.ndarray) -> float:
    return float(np.mean((aesthetic + personality @ w - target) ** 2))


def cycle(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


class Trainer:
    """Runs the protocol for one :class:`Config` and writes the run directory."""

    def __init__(self, config: Config, model: Optional[PersonalityDrivenIAA] = None):
        self.config = config
        if config.train.inter_task_solver not in ("sgd", "lstsq"):
            raise ConfigError(f"train.inter_task_solver must be sgd or lstsq, not {config.train.inter_task_solver!r}")
        if not config.data.aesthetic:
            raise ConfigError("no aesthetic data: pass --aesthetic-data FORMAT:PATH (or set data.aesthetic)")
        if config.train.personality and not config.data.personality:
            raise ConfigError("no personality data: pass --personality-data FORMAT:PATH, or --no-personality "
                              "for the aesthetic-only baseline")
        seed_everything(config.train.seed)
        self.device = resolve_device(config.train.device)
        self.run_dir = Path(config.train.output)
        self.pre = Preprocessing(config.data.image_size, config.data.crop_size)
        self.aesthetic = load_task_data(config.data.aesthetic, AESTHETIC, config, config.data.aesthetic_options)
        self.personality = (load_task_data(config.data.personality, PERSONALITY, config,
                                           config.data.personality_options)
                            if config.train.personality else None)
        self.model = (model or build_model(config.model.backbone, config.model.backbone_weights,
                                           hidden_dims=config.model.hidden_dims)).to(self.device)
        self.history: list[dict[str, Any]] = []

    # -- data ---------------------------------------------------------------------------------------
    def loader(self, task: TaskData, split: str, train: bool, batch_size: Optional[int] = None) -> DataLoader:
        transform = train_transform(self.pre, self.config.data.hflip) if train else eval_transform(self.pre)
        dataset = RecordDataset(task.splits[split], transform, task.source.open_image)
        return make_loader(dataset, batch_size or self.config.data.batch_size, shuffle=train,
                           workers=self.config.data.workers, seed=self.config.train.seed, drop_last=False)

    def evaluate(self, split: str) -> dict[str, Any]:
        records = self.aesthetic.splits[split]
        if not records:
            return {}
        pred = predict(self.model, self.loader(self.aesthetic, split, train=False), self.device, desc=split)
        return aesthetic_metrics(pred.score, pred.target[:, 0])

    # -- optimisation -------------------------------------------------------------------------------
    def optimizer(self, stage: int) -> torch.optim.SGD:
        opt, groups = self.config.optim, self.model.parameter_groups()
        if stage == 1:
            param_groups = [{"params": groups["backbone"], "lr": opt.lr_backbone, "name": "backbone"},
                            {"params": groups["heads"], "lr": opt.lr_heads, "name": "heads"}]
        else:
            param_groups = [{"params": groups["inter_task"], "lr": opt.lr_inter_task, "name": "inter_task"}]
        return torch.optim.SGD(param_groups, lr=param_groups[0]["lr"], momentum=opt.momentum,
                               weight_decay=opt.weight_decay)

    def set_trainable(self, stage: int) -> None:
        groups = self.model.parameter_groups()
        for name, params in groups.items():
            for p in params:
                p.requires_grad_((stage == 1) != (name == "inter_task"))

    def stage1(self) -> None:
        cfg = self.config
        self.set_trainable(1)
        optimizer = self.optimizer(1)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.optim.lr_decay)
        aesthetic_loader = self.loader(self.aesthetic, "train", train=True)
        personality_batches = (cycle(self.loader(self.personality, "train", train=True,
                                                 batch_size=cfg.data.personality_batch_size))
                               if self.personality else None)
        best_score, best_state = -float("inf"), None
        for epoch in range(1, cfg.train.epochs + 1):
            self.model.train()
            started, sums, counts = time.perf_counter(), {"aesthetic": 0.0, "personality": 0.0}, {"aesthetic": 0, "personality": 0}
            lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
            for images, targets, _ in tqdm(aesthetic_loader, desc=f"stage 1 epoch {epoch}/{cfg.train.epochs}",
                                           leave=False, disable=None):
                loss = aesthetic_loss(self.model(images.to(self.device)).aesthetic, targets.to(self.device))
                self._step(optimizer, loss)
                sums["aesthetic"] += loss.item() * len(images)
                counts["aesthetic"] += len(images)
                if personality_batches is not None:
                    p_images, p_targets, _ = next(personality_batches)
                    loss = personality_loss(self.model(p_images.to(self.device)).personality, p_targets.to(self.device))
                    self._step(optimizer, loss)
                    sums["personality"] += loss.item() * len(p_images)
                    counts["personality"] += len(p_images)
            scheduler.step()
            val = self.evaluate("val")
            row = {"stage": 1, "epoch": epoch, **{f"lr_{k}": v for k, v in lrs.items()},
                   "loss_aesthetic": sums["aesthetic"] / max(counts["aesthetic"], 1),
                   "loss_personality": (sums["personality"] / counts["personality"]) if counts["personality"] else None,
                   **{f"val_{k}": v for k, v in val.items() if k != "n"},
                   "seconds": time.perf_counter() - started}
            self._log(row)
            score = val.get(cfg.train.select_metric, float("nan")) if val else float("nan")
            if best_state is None or (score == score and score > best_score):
                best_score, best_state = score, copy.deepcopy(self.model.state_dict())
                self.best_epoch = epoch
        if best_state is not None:
            self.model.load_state_dict(best_state)

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def stage2(self) -> dict[str, Any]:
        """Fit w on frozen outputs of the aesthetic training split; returns both solutions."""
        cfg = self.config
        self.set_trainable(2)
        frozen = predict(self.model, self.loader(self.aesthetic, "train", train=False), self.device, desc="stage 2 outputs")
        s_a = torch.from_numpy(frozen.aesthetic).float()
        s_p = torch.from_numpy(frozen.personality).float()
        target = torch.from_numpy(frozen.target[:, 0]).float()
        w_lstsq = fit_inter_task_lstsq(frozen.aesthetic, frozen.personality, frozen.target[:, 0])
        optimizer = self.optimizer(2)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.optim.lr_decay)
        generator = torch.Generator().manual_seed(cfg.train.seed)
        w = self.model.inter_task
        if cfg.train.inter_task_solver == "sgd":
            for epoch in range(1, cfg.train.stage2_epochs + 1):
                lr = optimizer.param_groups[0]["lr"]
                order = torch.randperm(len(target), generator=generator)
                total = 0.0
                for start in range(0, len(order), cfg.data.batch_size):
                    idx = order[start:start + cfg.data.batch_size]
                    pred = s_a[idx].to(w.device) + s_p[idx].to(w.device) @ w
                    loss = final_loss(pred, target[idx].to(w.device))
                    self._step(optimizer, loss)
                    total += loss.item() * len(idx)
                scheduler.step()
                self._log({"stage": 2, "epoch": epoch, "lr_inter_task": lr, "loss_final": total / max(len(order), 1)})
        else:
            with torch.no_grad():
                w.copy_(torch.as_tensor(w_lstsq, dtype=w.dtype))
        w_sgd_or_final = w.detach().cpu().double().numpy()
        a, p, t = frozen.aesthetic, frozen.personality, frozen.target[:, 0]
        return {
            "solver": cfg.train.inter_task_solver,
            "weights": dict(zip(TRAITS, map(float, w_sgd_or_final))),
            "train_mse": final_mse(a, p, t, w_sgd_or_final),
            "lstsq_weights": dict(zip(TRAITS, map(float, w_lstsq))),
            "lstsq_train_mse": final_mse(a, p, t, w_lstsq),
            "train_mse_without_w": final_mse(a, p, t, np.zeros(5)),
        }

    # -- bookkeeping -------------------------------------------------------------------------------
    def _log(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items() if v is not None}
        tqdm.write("  ".join(f"{k}={v}" for k, v in shown.items()))
        fields = ["stage", "epoch", "lr_backbone", "lr_heads", "lr_inter_task", "loss_aesthetic",
                  "loss_personality", "loss_final", "val_srocc", "val_plcc", "val_krcc", "val_rmse",
                  "val_mae", "val_acc", "seconds"]
        with (self.run_dir / "metrics.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.history)

    def run(self) -> dict[str, Any]:
        cfg = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(self.run_dir / "config.yaml")
        self.best_epoch = None
        self.stage1()
        stage2 = self.stage2() if self.personality is not None else None
        test = self.evaluate("test")
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
        }
        if self.personality is not None and self.personality.splits["test"]:
            pred = predict(self.model, self.loader(self.personality, "test", train=False), self.device, desc="traits")
            result["personality"] = personality_metrics(pred.personality, pred.target)
        save_model(self.run_dir, self.model, self.pre,
                   extra={"personality_trained": self.personality is not None, "stage2": stage2})
        write_json(self.run_dir / "test_metrics.json", json_safe(result))
        from ..evaluation.report import plot_inter_task_weights

        plot_inter_task_weights(self.model.inter_task_weights(), self.run_dir / "inter_task_weights.png")
        return json_safe(result)


def train(config: Config) -> dict[str, Any]:
    """Run the whole protocol; returns the final metrics (also in ``RUN_DIR/test_metrics.json``)."""
    return Trainer(config).run()


def run_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "test_metrics.json").read_text())
