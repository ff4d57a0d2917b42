"""Resume checkpoints: ``checkpoints/stage*-*.pt`` hold everything a killed run needs to continue exactly
(model, optimiser, scheduler, position, RNG states). Every write is atomic (temporary file, fsync, then
rename), so an interrupted run never leaves a half-written file under a real name.

Model files (``model.safetensors`` + ``model.json``) live in :mod:`persona_iaa.models.io`, which inference
reads without importing training; their names are re-exported here so existing imports keep working.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import pickle
import random
import re
import signal
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Collection, Optional, Union, cast

import numpy as np
import torch

from ..errors import TrainingError
from ..files import atomic_write
from ..models.io import (  # noqa: F401  (re-exported: model files moved to models/io.py)
    FORMAT_NAME,
    META_FILE,
    WEIGHTS_FILE,
    load_state,
    load_trained_model,
    read_meta,
    resolve_model_path,
    save_model,
)
from .distributed import DistContext
from .state import TrainingState, from_checkpoint, to_checkpoint

# -- resume checkpoints ------------------------------------------------------------------------------
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_FORMAT = "persona-iaa/checkpoint"
_CHECKPOINT_NAME = re.compile(r"^stage(\d)-(\d{9})\.pt$")
#: The key under which a checkpoint carries the digest of everything else it holds.
CHECKSUM_KEY = "checksum"

log = logging.getLogger(__name__)


def checkpoint_paths(run_dir: Union[str, Path]) -> list[Path]:
    """Complete checkpoints of a run, oldest first (stage, then step or epoch within the stage)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    found = [(m.groups(), p) for p in folder.glob("stage*.pt") if (m := _CHECKPOINT_NAME.match(p.name))]
    return [p for (stage, counter), p in sorted(found, key=lambda item: (int(item[0][0]), int(item[0][1])))]


def _digest_into(digest: Any, value: Any) -> None:
    """Feed ``value`` (nested dicts, lists and tuples of tensors and plain values) to ``digest``.

    Every value is tagged with its type and every container with its length, so two different states
    cannot feed the same bytes; dict order is the order written, which ``torch.load`` keeps.
    """
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
        digest.update(f"T{value.dtype}{tuple(value.shape)}:".encode())
        digest.update(data.tobytes())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}:".encode())
        for key, item in value.items():
            _digest_into(digest, key)
            _digest_into(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)}:".encode())
        for item in value:
            _digest_into(digest, item)
    else:
        text = repr(value)
        digest.update(f"{type(value).__name__}{len(text)}:{text}".encode())


def state_digest(state: dict[str, Any]) -> str:
    """SHA-256 over a checkpoint's contents (tensor bytes included), its own checksum entry left out."""
    digest = hashlib.sha256()
    _digest_into(digest, {k: v for k, v in state.items() if k != CHECKSUM_KEY})
    return "sha256:" + digest.hexdigest()


def save_checkpoint(run_dir: Union[str, Path], state: dict[str, Any], *, stage: int, counter: int,
                    keep_last: int, exclude: Collection[Path] = ()) -> Path:
    """Write ``state`` atomically as ``checkpoints/stage{stage}-{counter}.pt`` with its checksum.

    Keeps the newest ``keep_last`` checkpoints; ``exclude`` (those found unreadable) neither count
    nor are deleted, so damaged files that sort after a new checkpoint can never push it out.
    """
    folder = Path(run_dir) / CHECKPOINT_DIR
    path = folder / f"stage{stage}-{counter:09d}.pt"
    payload = {"format": CHECKPOINT_FORMAT, **state}
    payload[CHECKSUM_KEY] = state_digest(payload)
    atomic_write(path, lambda tmp: torch.save(payload, tmp))
    skipped = {Path(p) for p in exclude} - {path}
    for old in [p for p in checkpoint_paths(run_dir) if p not in skipped][:-keep_last]:
        old.unlink(missing_ok=True)
    for partial in folder.glob(".stage*"):  # left by a writer killed mid-write; only rank 0 writes
        partial.unlink(missing_ok=True)
    return path


class UnreadableCheckpoint(Exception):
    """A checkpoint file that cannot be continued from; the message is our own one-line reason."""


def _load_reason(exc: BaseException) -> str:
    """Why ``torch.load`` refused a file, in our words (torch's own text advises unsafe loading)."""
    if isinstance(exc, pickle.UnpicklingError) and "weights only" in str(exc).lower():
        return ("not a persona-iaa checkpoint: it holds more than tensors and plain values, and such a file "
                "is never unpickled (that could run code from it)")
    return f"damaged or cut short ({type(exc).__name__})"


def read_checkpoint(path: Union[str, Path]) -> dict[str, Any]:
    """A checkpoint's contents, checked against the checksum written with it.

    Raises :class:`UnreadableCheckpoint` with a one-line reason. Checkpoints written before checksums
    existed carry none and load as they are.
    """
    try:
        with warnings.catch_warnings():  # a damaged file's first byte reads as an unusual pickle protocol
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise UnreadableCheckpoint(_load_reason(exc)) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise UnreadableCheckpoint("not a persona-iaa checkpoint")
    if CHECKSUM_KEY in state and state[CHECKSUM_KEY] != state_digest(state):
        raise UnreadableCheckpoint("damaged: its contents do not match the checksum written with it")
    return state


@dataclasses.dataclass
class CheckpointScan:
    """The newest readable checkpoint of a run (if any) and the newer ones that could not be read."""

    found: Optional[tuple[Path, dict[str, Any]]]
    unreadable: list[tuple[Path, str]]


def scan_checkpoints(run_dir: Union[str, Path]) -> CheckpointScan:
    """Newest first until one reads; an unreadable one (e.g. cut by a crashed node) is logged and passed over.
    """
    unreadable: list[tuple[Path, str]] = []
    for path in reversed(checkpoint_paths(run_dir)):
        try:
            return CheckpointScan((path, read_checkpoint(path)), unreadable)
        except UnreadableCheckpoint as exc:
            log.warning("%s: checkpoint skipped, %s", path, exc)
            unreadable.append((path, str(exc)))
    return CheckpointScan(None, unreadable)


def load_latest_checkpoint(run_dir: Union[str, Path]) -> Optional[tuple[Path, dict[str, Any]]]:
    """The newest readable checkpoint (an unreadable one, e.g. cut by a crashed node, is passed over)."""
    return scan_checkpoints(run_dir).found


def read_training_state(run_dir: Union[str, Path]) -> Optional[tuple[Path, TrainingState]]:
    """The newest readable checkpoint as typed state (:mod:`persona_iaa.training.state`)."""
    found = load_latest_checkpoint(run_dir)
    return None if found is None else (found[0], from_checkpoint(found[1], found[0]))


def capture_rng() -> dict[str, Any]:
    """This process's random states (Python, NumPy, torch CPU and CUDA) in a form ``torch.load`` accepts."""
    legacy = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
    kind, keys, position, has_gauss, cached = legacy
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss),
                  float(cached)),
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


class TrainingInterrupted(Exception):
    """SIGTERM/SIGINT stopped the run after its checkpoint was saved; ``train --resume`` continues it."""

    def __init__(self, signum: int, checkpoint: Optional[Path]):
        saved = f"stopped after saving {checkpoint}" if checkpoint is not None else "stopped, nothing saved"
        super().__init__(f"{signal.Signals(signum).name}: {saved}")
        self.signum, self.checkpoint = signum, checkpoint


class RunCheckpoints:
    """The checkpoints of one run: written by rank 0, pruned, and the one to resume from found.

    Why one object: pruning must know which files were found unreadable at resume (they neither count
    nor go), and every message that names "the last checkpoint" must name a file that is there.
    """

    def __init__(self, run_dir: Union[str, Path], dist: DistContext, keep_last: int):
        self.run_dir, self.dist, self.keep_last = Path(run_dir), dist, keep_last
        self.unreadable: set[Path] = set()
        self._last: Optional[Path] = None
        self._saved_at = time.monotonic()

    @property
    def last(self) -> Optional[Path]:
        """The newest checkpoint this run wrote or resumed from, if it is still on disk."""
        return self._last if self._last is not None and self._last.is_file() else None

    def due(self, minutes: float) -> bool:
        """Whether ``minutes`` have passed since the last save (rank 0's clock decides)."""
        return self.dist.is_main and minutes > 0 and time.monotonic() - self._saved_at >= minutes * 60

    def save(self, make_state: Callable[[list[dict[str, Any]]], TrainingState]) -> None:
        """Every rank contributes its RNG states; rank 0 builds the state from them and writes it."""
        rngs = self.dist.all_gather(capture_rng())
        if self.dist.is_main:
            state = make_state(rngs)
            self._last = save_checkpoint(self.run_dir, to_checkpoint(state), stage=state.stage,
                                         counter=state.counter, keep_last=self.keep_last,
                                         exclude=self.unreadable)
            self.unreadable.discard(self._last)
        self._saved_at = time.monotonic()

    def resume(self) -> Optional[TrainingState]:
        """The state to continue from; None when the run has no checkpoint yet.

        Checkpoints that exist but none of which can be read stop the run here: starting over would
        throw away a run that may have finished, so the user decides.
        """
        scan = scan_checkpoints(self.run_dir)
        self.unreadable = {path for path, _ in scan.unreadable}
        if scan.found is None:
            if scan.unreadable:
                folder = self.run_dir / CHECKPOINT_DIR
                names = ", ".join(path.name for path, _ in scan.unreadable)
                raise TrainingError(
                    f"{folder}: no checkpoint can be read ({names}; the reasons are logged above), so "
                    f"nothing was trained or deleted: move them out of {folder} to train the run again "
                    "from the beginning, or put a readable checkpoint back to continue it")
            if self.dist.is_main:
                log.info("%s: no checkpoint yet, starting from the beginning", self.run_dir)
            return None
        path, data = scan.found
        state = from_checkpoint(data, path)
        self._last = path
        if self.dist.is_main:
            log.info("resuming from %s (%s)", path, state.describe())
        return state

    def interrupted(self, signum: Optional[int]) -> TrainingInterrupted:
        return TrainingInterrupted(signum or signal.SIGTERM, self.last)

    def diverged(self, stage: int, step: int, name: str, value: float) -> TrainingError:
        """The error for a non-finite loss: where, which checkpoint is left, and how to go on."""
        last = self.last
        kept = (f"the last good checkpoint is {last}" if last is not None
                else "no checkpoint had been written yet")
        return TrainingError(
            f"the {name} loss became {value} at stage-{stage} step {step}: training stopped and {kept}. "
            f"Lower the learning rates (or use --precision fp32) and continue with "
            f"`persona-iaa train --resume {self.run_dir} optim.lr_backbone=...`")
