"""The model's outputs (s_a, s_p) on rated images, scored once per run and kept beside the model.

Why a cache: calibration and evaluation read every rated image (PARA: 31,220), and the protocol's
repeats and a later ``evaluate`` after ``calibrate`` need the same numbers again. Outputs are stored
in ``model.personal-outputs.npz`` beside the weights, keyed by path, size and modification time and
tagged with the model's fingerprint, so a changed image or model is scored afresh.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..data.ratings import PersonRatings
from ..errors import DataError
from ..files import atomic_write
from .fewshot import PersonData

log = logging.getLogger(__name__)
CACHE_SUFFIX = ".personal-outputs.npz"


@dataclasses.dataclass
class OutputTable:
    """Outputs by image path: ``aesthetic[row]``, ``personality[row]`` with ``row = index[path]``."""

    index: dict[str, int]
    aesthetic: np.ndarray
    personality: np.ndarray

    def person(self, ratings: PersonRatings) -> PersonData:
        rows = np.array([self.index[p] for p in ratings.paths], dtype=np.int64)
        return PersonData(
            ratings.user, self.aesthetic[rows], self.personality[rows], ratings.scores, ratings.traits
        )


def cache_path(weights_file: Optional[Path]) -> Optional[Path]:
    return None if weights_file is None else weights_file.with_name(weights_file.stem + CACHE_SUFFIX)


def _stamp(path: str) -> str:
    info = os.stat(path)
    return f"{info.st_size}:{info.st_mtime_ns}"


def _read_cache(path: Optional[Path], fingerprint: str) -> dict[str, tuple[float, np.ndarray]]:
    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["model"]) != fingerprint:
                return {}
            return {
                f"{p}|{s}": (float(a), t)
                for p, s, a, t in zip(data["paths"], data["stamps"], data["aesthetic"], data["personality"])
            }
    except Exception as exc:  # a damaged cache is only a cache: score again
        log.warning("%s: unreadable output cache ignored (%s)", path, type(exc).__name__)
        return {}


def _write_cache(path: Optional[Path], fingerprint: str, known: dict[str, tuple[float, np.ndarray]]) -> None:
    if path is None:
        return
    keys = sorted(known)
    arrays: dict[str, Any] = {
        "model": np.array(fingerprint),
        "paths": np.array([k.rsplit("|", 1)[0] for k in keys]),
        "stamps": np.array([k.rsplit("|", 1)[1] for k in keys]),
        "aesthetic": np.array([known[k][0] for k in keys], dtype=np.float32),
        "personality": np.array([known[k][1] for k in keys], dtype=np.float32).reshape(-1, 5),
    }

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    try:
        atomic_write(path, write)
    except OSError as exc:  # a read-only shared run folder costs only the cache
        log.warning("%s: output cache not written (%s)", path, exc.strerror or exc)


def image_outputs(predictor: Any, paths: Sequence[str], *, progress: bool = False) -> OutputTable:
    """s_a and s_p of every path (each scored once; cached beside the model); a failed image is an error."""
    unique = list(dict.fromkeys(paths))
    keys = [f"{p}|{_stamp(p)}" for p in unique]
    cache = cache_path(getattr(predictor, "weights_file", None))
    known = _read_cache(cache, predictor.fingerprint)
    todo = [p for p, k in zip(unique, keys) if k not in known]
    if todo:
        log.info("scoring %d rated image(s) (%d from the cache)", len(todo), len(unique) - len(todo))
        results = predictor.engine.score(todo)
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(todo), unit="img", disable=None, desc="rated images")
        failed = []
        for path, result in zip(todo, results):
            if result.ok:
                known[f"{path}|{_stamp(path)}"] = (result.aesthetic, np.asarray(result.personality))
            else:
                failed.append(f"{path}: {result.error}")
        if failed:
            raise DataError(f"{len(failed)} rated image(s) could not be scored, e.g. {failed[0]}")
        _write_cache(cache, predictor.fingerprint, known)
    return OutputTable(
        {p: i for i, p in enumerate(unique)},
        np.array([known[k][0] for k in keys]),
        np.array([known[k][1] for k in keys]).reshape(-1, 5),
    )
