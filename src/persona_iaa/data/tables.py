"""Label text as the distributions write it: delimited tables (comma, tab, semicolon or space separated)
and plain line lists.

FLICKR-AES writes ``worker, imagePair, score`` (a space after each comma), PA-IAA's ``Personality.csv``
is space-separated; cells and headers are stripped so columns match by name whatever the spacing.
Every text file is read here, as UTF-8 with an optional byte-order mark (Windows editors add one), so
a BOM never becomes part of the first image name and another encoding is one clear line.
"""
from __future__ import annotations

import contextlib
import csv
from pathlib import Path
from typing import Iterator, Literal, Optional, Sequence, TextIO, overload

from ..errors import DataError

TableRows = Iterator[tuple[int, list[str]]]

#: UTF-8, with the byte-order mark some editors write skipped when present.
ENCODING = "utf-8-sig"


def not_utf8(path: Path, exc: UnicodeDecodeError) -> DataError:
    return DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8")


def read_text(path: Path) -> str:
    """A whole label file as text (UTF-8, optional BOM); another encoding is one clear error."""
    try:
        return path.read_text(encoding=ENCODING)
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line_number, stripped line)`` of each non-blank line of a plain list file."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if line.strip():
            yield number, line.strip()


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
    with path.open(newline="", encoding=ENCODING) as handle:
        rows = _rows(handle, path)
        try:
            _, header = next(rows)
        except StopIteration:
            raise DataError(f"{path}: empty file, expected a header line") from None
        yield header, _same_width(rows, len(header), path)


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
        raise not_utf8(path, exc) from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable table ({exc})") from None


def _same_width(rows: TableRows, width: int, path: Path) -> TableRows:
    """Rows as wide as the header: a row with more or fewer cells (an unquoted comma in a path) would put
    labels under the wrong column, so it is an error; empty cells a spreadsheet appends are dropped."""
    for line, cells in rows:
        while len(cells) > width and not cells[-1]:
            cells.pop()
        if len(cells) != width:
            raise DataError(f"{path}:{line}: {len(cells)} cells where the header has {width} "
                            "(quote a path that holds the delimiter)")
        yield line, cells


def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The whole table at once: header and ``(line_number, cells)`` rows."""
    with open_table(path) as (header, rows):
        return header, list(rows)


@overload
def column(header: Sequence[str], names: Sequence[str], path: Path, required: Literal[True] = ...) -> int: ...


@overload
def column(header: Sequence[str], names: Sequence[str], path: Path, required: bool) -> Optional[int]: ...


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
