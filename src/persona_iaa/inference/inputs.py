"""Scoring inputs: files, folders (recursive, sorted, image extensions) and ``@list.txt`` path lists.

Whatever a named path or a folder entry is, it is passed on: a missing file, a FIFO or a device named
like a photo becomes an error row when the opener refuses it, so nothing is dropped without a trace.
A folder that cannot be listed (no permission, an I/O error) has no entries to pass on: it is reported
in one log line and recorded in ``skipped``, so the caller can count it in its summary.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from ..constants import IMAGE_EXTENSIONS
from ..errors import DataError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SkippedFolder:
    """A folder under an input whose images could not be listed, and why (one line)."""

    path: str
    reason: str


def iter_image_paths(inputs: Iterable[Union[str, os.PathLike]], skipped: Optional[list[SkippedFolder]] = None
                     ) -> Iterator[str]:
    """Expand inputs in a deterministic order, each path once; named files are kept whatever their extension.

    Folders that cannot be read are logged (warning, one line each) and appended to ``skipped``.
    """
    seen: set[str] = set()
    for path in _expand(inputs, skipped if skipped is not None else []):
        if path not in seen:
            seen.add(path)
            yield path


def _expand(inputs: Iterable[Union[str, os.PathLike]], skipped: list[SkippedFolder]) -> Iterator[str]:
    for item in inputs:
        text = os.fspath(item)
        if text.startswith("@"):
            yield from _list_file(Path(text[1:]))
            continue
        path = Path(text)
        if path.is_dir():
            yield from _folder(path, skipped)
        elif path.exists() or path.is_symlink():
            yield str(path)
        else:
            raise DataError(f"{path}: no such file or folder")


def _list_file(list_file: Path) -> Iterator[str]:
    if not list_file.is_file():
        raise DataError(f"path list {list_file} not found")
    base = list_file.parent
    try:
        text = list_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"path list {list_file} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"path list {list_file}: {exc.strerror or exc}") from None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            path = Path(line)
            yield str(path if path.is_absolute() else base / path)


def _folder(path: Path, skipped: list[SkippedFolder]) -> Iterator[str]:
    """The image files under ``path`` (hidden entries left out), sorted; unreadable folders reported."""

    def unreadable(error: OSError) -> None:
        folder = str(error.filename if error.filename is not None else path)
        reason = error.strerror or type(error).__name__
        log.warning("%s: cannot read this folder (%s); its images are skipped", folder, reason)
        skipped.append(SkippedFolder(folder, reason))

    found = []
    for folder, dirs, files in os.walk(path, onerror=unreadable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(folder, f) for f in files
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return iter(sorted(found))
