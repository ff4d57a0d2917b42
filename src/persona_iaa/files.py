"""Crash-safe file writes shared by every writer (models, checkpoints, caches, logs, score files).

Torch-free, so dataset tools can use it without importing torch.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Union


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Union[str, Path], write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)``, flush it to disk, then rename onto ``path``.

    ``write``'s return value is ignored, so writers such as ``Path.write_text`` (which return a
    count) can be passed directly.

    Readers (and a run resumed after a crash) see the old file or the new one, never half of one.
    The file gets the usual permissions (0666 minus the umask), not mkstemp's owner-only 0600, so
    models and caches on shared storage stay readable by the team.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Union[str, Path], data: Any) -> None:
    """Strict JSON (no NaN), indented, written atomically."""

    def dump(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")

    atomic_write(path, dump)


def read_json(path: Union[str, Path]) -> Any:
    """A JSON file the project wrote; a damaged one is a one-line :class:`~persona_iaa.errors.DataError`."""
    from .errors import DataError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
