"""Model files and resume checkpoints.

``model.safetensors`` (weights) + ``model.json`` (architecture, preprocessing, provenance) are all that
`evaluate`, `score`, `export` and :func:`persona_iaa.load_model` need. ``checkpoints/stage*-*.pt`` hold
everything a killed run needs to continue exactly (model, optimiser, scheduler, position, RNG states).
Every write is atomic (temporary file, fsync, then rename), so an interrupted run never leaves a
half-written file under a real name.
"""
from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .. import __version__
from ..constants import TRAITS
from ..data.transforms import Preprocessing
from ..errors import ModelError, first_line
from ..files import atomic_write, write_json
from ..models.pdmtl import ModelSpec, PersonalityDrivenIAA, build_model

WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
FORMAT_NAME = "persona-iaa/model"


def save_model(directory: Union[str, Path], model: PersonalityDrivenIAA, preprocessing: Preprocessing,
               extra: dict[str, Any] | None = None, stem: str = "model") -> Path:
    directory = Path(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(directory / f"{stem}.safetensors", lambda tmp: save_file(state, tmp))
    meta = {
        "format": FORMAT_NAME,
        "persona_iaa_version": __version__,
        "model": model.spec.to_dict(),
        "preprocessing": preprocessing.to_dict(),
        "traits": list(TRAITS),
        "backbone_weights": getattr(model, "backbone_weights", None),
        "inter_task_weights": model.inter_task_weights(),
        **(extra or {}),
    }
    write_json(directory / f"{stem}.json", meta)
    return directory / f"{stem}.safetensors"


def resolve_model_path(path: Union[str, Path]) -> tuple[Path, Path]:
    """A run directory, a ``.safetensors`` file or a ``.json`` file -> (weights, metadata) paths."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"{path}: not found (expected a run directory or a model .safetensors file)")
    if path.is_dir():
        weights, meta = path / WEIGHTS_FILE, path / META_FILE
    elif path.suffix in (".safetensors", ".json"):
        weights, meta = path.with_suffix(".safetensors"), path.with_suffix(".json")
    else:
        raise ModelError(f"{path}: expected a run directory or a model .safetensors file")
    for required in (weights, meta):
        if not required.is_file():
            raise ModelError(f"{path}: no trained model here ({required.name} not found)")
    return weights, meta


def read_meta(path: Union[str, Path]) -> dict[str, Any]:
    _, meta_path = resolve_model_path(path)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{meta_path}: corrupt model metadata ({exc})") from None
    if meta.get("format") != FORMAT_NAME:
        raise ModelError(f"{meta_path}: not a persona-iaa model file")
    return meta


def load_state(model: PersonalityDrivenIAA, weights_path: Union[str, Path]) -> None:
    """Load saved weights into ``model``; a checkpoint of another architecture fails with one line."""
    try:
        state = load_file(str(weights_path))
    except Exception as exc:
        raise ModelError(f"{weights_path}: cannot read weights ({first_line(exc)})") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        raise ModelError(
            f"{weights_path} was saved for a different architecture than {model.spec.backbone} "
            f"({len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} mis-shaped tensors, e.g. {first!r})"
        )
    model.load_state_dict(state)


def load_trained_model(path: Union[str, Path], device: Union[str, torch.device] = "cpu"
                       ) -> tuple[PersonalityDrivenIAA, Preprocessing, dict[str, Any]]:
    """Rebuild the architecture from ``model.json`` and load ``model.safetensors`` (no weight download)."""
    weights_path, _ = resolve_model_path(path)
    meta = read_meta(path)
    spec = ModelSpec.from_dict(meta["model"])
    model = build_model(spec.backbone, weights=None, hidden_dims=spec.hidden_dims)
    load_state(model, weights_path)
    model.backbone_weights = meta.get("backbone_weights")
    return model.to(device).eval(), Preprocessing.from_dict(meta["preprocessing"]), meta


# -- resume checkpoints ------------------------------------------------------------------------------
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_FORMAT = "persona-iaa/checkpoint"
_CHECKPOINT_NAME = re.compile(r"^stage(\d)-(\d{9})\.pt$")


def checkpoint_paths(run_dir: Union[str, Path]) -> list[Path]:
    """Complete checkpoints of a run, oldest first (stage, then step or epoch within the stage)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    found = [(m.groups(), p) for p in folder.glob("stage*.pt") if (m := _CHECKPOINT_NAME.match(p.name))]
    return [p for (stage, counter), p in sorted(found, key=lambda item: (int(item[0][0]), int(item[0][1])))]


def save_checkpoint(run_dir: Union[str, Path], state: dict[str, Any], *, stage: int, counter: int,
                    keep_last: int) -> Path:
    """Write ``state`` atomically as ``checkpoints/stage{stage}-{counter}.pt``; keep the last ``keep_last``."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    path = folder / f"stage{stage}-{counter:09d}.pt"
    atomic_write(path, lambda tmp: torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp))
    for old in checkpoint_paths(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    for partial in folder.glob(".stage*"):  # left by a writer killed mid-write; only rank 0 writes
        partial.unlink(missing_ok=True)
    return path


def load_latest_checkpoint(run_dir: Union[str, Path]) -> Optional[tuple[Path, dict[str, Any]]]:
    """The newest readable checkpoint (an unreadable one, e.g. cut by a crashed node, is passed over)."""
    for path in reversed(checkpoint_paths(run_dir)):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for a damaged file
            print(f"warning: {path}: unreadable checkpoint skipped ({first_line(exc)})", file=sys.stderr)
            continue
        if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
            return path, state
    return None


def capture_rng() -> dict[str, Any]:
    """This process's random states (Python, NumPy, torch CPU and CUDA) in a form ``torch.load`` accepts."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
