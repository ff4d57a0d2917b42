"""Delimited label tables as the distributions write them: comma, tab, semicolon or space separated.

FLICKR-AES writes ``worker, imagePair, score`` (a space after each comma), PA-IAA's ``Personality.csv``
is space-separated; cells and headers are stripped so columns match by name whatever the spacing.
"""
from __future__ import annotations

import contextlib
import csv
from pathlib import Path
from typing import Iterator, Optional, Sequence, TextIO

from ..errors import DataError

TableRows = Iterator[tuple[int, list[str]]]


def _delimiter(header_line: str) -> Optional[str]:
    """The delimiter the header line uses; None means runs of whitespace."""
    for candidate in (",", "\t", ";"):
        if candidate in header_line:
            return candidate
    return None


@contextlib.contextmanager
def open_table(path: Path) -> Iterator[tuple[list[str], TableRows]]:
    """``(header, rows)`` of a delimited text file with a header line.

    ``rows`` streams ``(line_number, cells)`` and skips blank lines, so PARA's 800k-row ratings file is
    never held as strings in memory.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = _rows(handle, path)
        try:
            _, header = next(rows)
        except StopIteration:
            raise DataError(f"{path}: empty file, expected a header line") from None
        yield header, rows


def _rows(handle: TextIO, path: Path) -> TableRows:
    try:
        delimiter = _delimiter(handle.readline())
        handle.seek(0)
        if delimiter is None:
            numbered: TableRows = ((n, line.split()) for n, line in enumerate(handle, start=1))
        else:
            reader = csv.reader(handle, delimiter=delimiter, skipinitialspace=True)
            numbered = ((reader.line_num, [cell.strip() for cell in row]) for row in reader)
        yield from ((n, cells) for n, cells in numbered if any(cells))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text table ({exc.reason} at byte {exc.start})") from None


def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The whole table at once: header and ``(line_number, cells)`` rows."""
    with open_table(path) as (header, rows):
        return header, list(rows)


def column(header: Sequence[str], names: Sequence[str], path: Path, required: bool = True) -> Optional[int]:
    """Index of the first header cell matching one of ``names`` (case-insensitive)."""
    lowered = [cell.lower() for cell in header]
    for name in names:
        if name.lower() in lowered:
            return lowered.index(name.lower())
    if required:
        raise DataError(f"{path}: no column named {' or '.join(names)} (header: {', '.join(header)})")
    return None


def require_columns(header: Sequence[str], names: Sequence[str], path: Path) -> dict[str, int]:
    """Indices of every column in ``names``; one error names all that are missing."""
    lowered = [cell.lower() for cell in header]
    missing = [n for n in names if n.lower() not in lowered]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
    return {n: lowered.index(n.lower()) for n in names}


def number(cell: str, path: Path, line: int) -> float:
    """A numeric cell, or an error naming the file and line."""
    try:
        return float(cell)
    except ValueError:
        raise DataError(f"{path}:{line}: expected a number, got {cell!r}") from None
