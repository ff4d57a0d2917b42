"""Run a model over labelled records and compute the paper's metrics."""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..config import Config, load_config
from ..constants import TRAITS
from ..data.loading import RecordDataset, make_loader
from ..data.records import AESTHETIC, PERSONALITY
from ..data.registry import load_task_data
from ..data.transforms import eval_transform
from ..errors import ConfigError, DataError
from ..files import atomic_write
from ..models.pdmtl import PersonalityDrivenIAA
from ..runtime import resolve_device
from .metrics import aesthetic_metrics, personality_metrics


@dataclasses.dataclass
class Predictions:
    score: np.ndarray
    aesthetic: np.ndarray
    personality: np.ndarray
    target: np.ndarray


#: The per-image file a run writes for its test split (what paired statistics and figures read).
PREDICTIONS_FILE = "test_predictions.csv"
PREDICTION_COLUMNS = ("path", "target", "aesthetic", *TRAITS, "score")


def write_predictions(path: Union[str, Path], paths: list[str], pred: Predictions) -> None:
    """One row per aesthetic image: its path, target, s_a, s_p (O..N) and final score, in split order.

    Why a file: comparisons between runs (paired bootstrap over test images, a recomputed ``w``) and
    figures need every image's outputs, not only the metrics they summarise to.
    """
    if len(paths) != len(pred.score):
        raise ValueError(f"{len(paths)} paths for {len(pred.score)} predictions")

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(PREDICTION_COLUMNS)
            for i, image in enumerate(paths):
                writer.writerow([image, *(f"{float(v):.7g}" for v in (
                    pred.target[i][0], pred.aesthetic[i], *pred.personality[i], pred.score[i]))])

    atomic_write(path, write)


def read_predictions(path: Union[str, Path]) -> tuple[list[str], Predictions]:
    """The paths and outputs :func:`write_predictions` wrote (targets as an [N, 1] array)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and set(PREDICTION_COLUMNS) - set(rows[0]):
        raise DataError(f"{path}: not a predictions file (columns {', '.join(PREDICTION_COLUMNS)})")

    def column(*names: str) -> np.ndarray:
        return np.array([[float(row[n]) for n in names] for row in rows], dtype=np.float64).reshape(
            len(rows), len(names))

    return ([row["path"] for row in rows],
            Predictions(column("score")[:, 0], column("aesthetic")[:, 0], column(*TRAITS), column("target")))


@torch.no_grad()
def predict(model: PersonalityDrivenIAA, loader: DataLoader, device: torch.device,
            desc: str = "eval") -> Predictions:
    """All three outputs and the targets over a loader of ``(image, target, index)`` batches."""
    model.eval()
    parts: dict[str, list[np.ndarray]] = {"score": [], "aesthetic": [], "personality": [], "target": []}
    for images, targets, _ in tqdm(loader, desc=desc, leave=False, disable=None):
        out = model(images.to(device, non_blocking=True))
        parts["score"].append(out.score.float().cpu().numpy())
        parts["aesthetic"].append(out.aesthetic.float().cpu().numpy())
        parts["personality"].append(out.personality.float().cpu().numpy())
        parts["target"].append(targets.numpy())
    joined = {k: np.concatenate(v) if v else np.zeros((0, 1)) for k, v in parts.items()}
    return Predictions(joined["score"].reshape(-1), joined["aesthetic"].reshape(-1),
                       joined["personality"].reshape(-1, 5), joined["target"])


def run_config(checkpoint: Union[str, Path]) -> Config:
    """The configuration a run was trained with (defaults when the model file stands alone)."""
    path = Path(checkpoint)
    config_file = (path if path.is_dir() else path.parent) / "config.yaml"
    return load_config(config_file if config_file.is_file() else None)


def evaluate_model(model: PersonalityDrivenIAA, preprocessing, *, aesthetic: Optional[str],
                   split: str = "test", personality: Optional[str] = None, config: Optional[Config] = None,
                   batch_size: int = 32, workers: int = 0, device: str = "auto") -> dict[str, Any]:
    """Metrics on ``split`` of each dataset given, with the run's split policy so test stays test."""
    config = config or Config()
    if batch_size < 1 or workers < 0:
        raise ConfigError("--batch-size must be at least 1 and --workers at least 0")
    device_ = resolve_device(device)
    model = model.to(device_)
    transform = eval_transform(preprocessing)
    result: dict[str, Any] = {}
    for spec, task, options in ((aesthetic, AESTHETIC, config.data.aesthetic_options),
                                (personality, PERSONALITY, config.data.personality_options)):
        if not spec:
            continue
        data = load_task_data(spec, task, options if spec == getattr(config.data, task) else {},
                              val_fraction=config.data.val_fraction, test_fraction=config.data.test_fraction,
                              seed=config.train.seed)
        source, splits = data.source, data.splits
        if split == "all":
            records = [r for part in splits.values() for r in part]
        elif split in splits:
            records = splits[split]
        else:
            raise DataError(f"unknown split {split!r}; choose train, val, test or all")
        if not records:
            raise DataError(f"{spec}: the {split} split is empty")
        loader = make_loader(RecordDataset(records, transform, source.open_image), batch_size,
                             shuffle=False, workers=workers, seed=0)
        pred = predict(model, loader, device_, desc=f"{task} {split}")
        if task == AESTHETIC:
            result.update(aesthetic_metrics(pred.score, pred.target[:, 0]))
            result["aesthetic_only"] = aesthetic_metrics(pred.aesthetic, pred.target[:, 0])
        else:
            result["personality"] = personality_metrics(pred.personality, pred.target)
    result["inter_task_weights"] = model.inter_task_weights()
    return result
