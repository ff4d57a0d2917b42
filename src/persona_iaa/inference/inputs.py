"""Scoring inputs: files, folders (recursive, sorted, image extensions) and ``@list.txt`` path lists."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Union

from ..constants import IMAGE_EXTENSIONS
from ..errors import DataError


def iter_image_paths(inputs: Iterable[Union[str, os.PathLike]]) -> Iterator[str]:
    """Expand inputs in a deterministic order, each path once; named files are kept whatever their extension."""
    seen: set[str] = set()
    for path in _expand(inputs):
        if path not in seen:
            seen.add(path)
            yield path


def _expand(inputs: Iterable[Union[str, os.PathLike]]) -> Iterator[str]:
    for item in inputs:
        text = os.fspath(item)
        if text.startswith("@"):
            list_file = Path(text[1:])
            if not list_file.is_file():
                raise DataError(f"path list {list_file} not found")
            base = list_file.parent
            try:
                listing = list_file.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"path list {list_file} is not UTF-8 text (byte {exc.start})") from None
            except OSError as exc:
                raise DataError(f"path list {list_file}: {exc.strerror or exc}") from None
            for line in listing.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    path = Path(line)
                    yield str(path if path.is_absolute() else base / path)
            continue
        path = Path(text)
        if path.is_dir():
            found = []
            for folder, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found += [os.path.join(folder, f) for f in files
                          if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
            yield from sorted(found)
        elif path.exists() or path.is_symlink():
            yield str(path)
        else:
            raise DataError(f"{path}: no such file or folder")
