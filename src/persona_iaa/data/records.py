"""The in-memory form every dataset format parses into: labelled image records and skip reports."""
from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from PIL import Image

from ..errors import DataError

SPLITS: tuple[str, ...] = ("train", "val", "test")
AESTHETIC = "aesthetic"
PERSONALITY = "personality"
TASKS: tuple[str, ...] = (AESTHETIC, PERSONALITY)


class TaskUnavailable(DataError):
    """The files hold no labels of the task asked for (a personality CSV asked for scores): the format
    reads the other task, so a report of both tasks shows the other task's own problem first."""


@dataclasses.dataclass(frozen=True)
class Record:
    """One labelled image.

    ``target`` is the normalised label: ``(score,)`` in [0, 1] for the aesthetic task, the five traits
    (O, C, E, A, N) in [-1, 1] for the personality task. ``split`` is the split the distribution assigns
    (None lets the split logic decide). ``meta`` keeps format-specific extras (vote counts, attributes).
    """

    path: str
    target: tuple[float, ...]
    split: Optional[str] = None
    meta: Optional[dict[str, Any]] = None


@dataclasses.dataclass(frozen=True)
class Skip:
    """An entry that a loader left out, and why (missing file, known-corrupt id, bad label...)."""

    path: str
    reason: str


@dataclasses.dataclass
class DatasetSource:
    """A parsed dataset: records of one task plus what was skipped.

    ``open_image`` decodes one record's image; formats backed by a cache replace it.
    """

    spec: str
    task: str
    records: list[Record]
    skipped: list[Skip] = dataclasses.field(default_factory=list)
    open_image: Optional[Callable[[str], Image.Image]] = None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def skip_summary(self, examples: int = 3) -> dict[str, dict[str, Any]]:
        """Counts per reason with the first few paths, for reports and `datasets inspect`."""
        counts = Counter(s.reason for s in self.skipped)
        summary: dict[str, dict[str, Any]] = {}
        for reason, count in counts.most_common():
            first = [s.path for s in self.skipped if s.reason == reason][:examples]
            summary[reason] = {"count": count, "examples": first}
        return summary


def resolve_image(root: Path, relative: str) -> Path:
    """Absolute image path for a label-file entry (absolute entries are kept as they are)."""
    path = Path(relative)
    return path if path.is_absolute() else root / path


def locate_file(root: Path, option: str, candidates: Sequence[str], origin: str) -> Optional[Path]:
    """A label file: the one a format option names (``auto``: the first candidate that exists, or None).

    A named file that does not exist is an error; paths are relative to ``root``.
    """
    if option != "auto":
        path = resolve_image(root, option)
        if not path.is_file():
            raise DataError(f"{origin}: {path} not found")
        return path
    return next((root / c for c in candidates if (root / c).is_file()), None)


class FileIndex:
    """Which files exist, answered from one directory listing per folder.

    AVA keeps 255k images in one folder: listing it takes a fraction of a second, where one ``stat``
    per label row takes minutes on network storage. Listings are cached for the index's lifetime.
    """

    def __init__(self) -> None:
        self._listings: dict[str, frozenset[str]] = {}

    def names(self, folder: Union[str, Path]) -> frozenset[str]:
        """Entry names of ``folder`` (empty when it does not exist)."""
        key = os.fspath(folder)
        if key not in self._listings:
            try:
                with os.scandir(key) as entries:
                    self._listings[key] = frozenset(entry.name for entry in entries)
            except (FileNotFoundError, NotADirectoryError):
                self._listings[key] = frozenset()
        return self._listings[key]

    def exists(self, path: Union[str, Path]) -> bool:
        folder, name = os.path.split(os.fspath(path))
        return name in self.names(folder or ".")
