"""Resume checkpoints: ``checkpoints/stage*-*.pt`` hold everything a killed run needs to continue exactly
(model, optimiser, scheduler, position, RNG states). Every write is atomic (temporary file, fsync, then
rename), so an interrupted run never leaves a half-written file under a real name.

Model files (``model.safetensors`` + ``model.json``) live in :mod:`persona_iaa.models.io`, which inference
reads without importing training; their names are re-exported here so existing imports keep working.
"""
from __future__ import annotations

import random
import re
import sys
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from ..errors import first_line
from ..files import atomic_write
from ..models.io import (  # noqa: F401  (re-exported: model files moved to models/io.py)
    FORMAT_NAME, META_FILE, WEIGHTS_FILE, load_state, load_trained_model, read_meta, resolve_model_path, save_model,
)

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
