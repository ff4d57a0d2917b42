"""Result files of ``persona-iaa score``: CSV, JSONL or Parquet by extension, streamed and resumable.

Every row is flushed as soon as it is written, so a killed run keeps all finished rows; ``resume``
appends to the file (after dropping a half-written last line) and :func:`read_rows` tells which paths
are done. Parquet cannot be appended to, so rows stream into a JSONL journal next to it
(``FILE.parquet.partial.jsonl``) that is folded into the Parquet file when the run ends.
"""
from __future__ import annotations

import csv
import heapq
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, TextIO, Union

from ..errors import DataError
from ..files import atomic_write
from .engine import RESULT_COLUMNS

OUTPUT_FORMATS: tuple[str, ...] = (".csv", ".jsonl", ".parquet")
_PARQUET_CHUNK = 8192  # rows per Parquet row group when folding the journal in
Row = dict[str, Any]


def output_format(path: Union[str, Path]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise DataError(f"{path}: output must end in {', '.join(OUTPUT_FORMATS)} (CSV, JSONL or Parquet)")
    return suffix


def journal_path(path: Union[str, Path]) -> Path:
    return Path(f"{path}.partial.jsonl")


class CsvResultWriter:
    """CSV rows (empty cells for missing values), flushed one by one; also writes to stdout."""

    def __init__(self, stream: TextIO, *, header: bool = True, columns: Sequence[str] = RESULT_COLUMNS):
        self.stream = stream
        self.writer = csv.DictWriter(stream, fieldnames=list(columns), lineterminator="\n")
        if header:
            self.writer.writeheader()
            stream.flush()

    def write(self, row: Row) -> None:
        self.writer.writerow(row)
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not sys.stdout:
            self.stream.close()


class JsonlResultWriter:
    """One JSON object per line, flushed one by one."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, row: Row) -> None:
        self.stream.write(json.dumps(row, allow_nan=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()


class ParquetResultWriter:
    """Streams rows into the JSONL journal; :meth:`close` folds earlier rows and the journal into Parquet."""

    def __init__(self, path: Path, *, resume: bool, columns: Sequence[str] = RESULT_COLUMNS):
        _require_pyarrow()
        self.path = path
        self.columns = tuple(columns)
        self.journal = journal_path(path)
        if not resume:  # start afresh, as a CSV file opened for writing does
            self.journal.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
        _drop_partial_line(self.journal)
        self.keep_existing = resume
        self.rows = JsonlResultWriter(self.journal.open("a", encoding="utf-8"))

    def write(self, row: Row) -> None:
        self.rows.write(row)

    def close(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.rows.close()
        rows = read_rows(self.path) if self.keep_existing else _read_jsonl(self.journal)
        schema = pa.schema([(c, pa.string() if c in ("path", "error") else pa.float64())
                            for c in self.columns])

        def fold(tmp: str) -> None:
            with pq.ParquetWriter(tmp, schema) as writer:
                for chunk in _chunks(rows, _PARQUET_CHUNK):
                    writer.write_table(pa.Table.from_pylist(chunk, schema=schema))

        atomic_write(self.path, fold)
        self.journal.unlink()


ResultWriter = Union[CsvResultWriter, JsonlResultWriter, ParquetResultWriter]


def open_result_writer(path: Optional[Union[str, Path]], *, resume: bool = False,
                       columns: Sequence[str] = RESULT_COLUMNS) -> ResultWriter:
    """A writer for ``path`` by extension (CSV to stdout when ``path`` is None).

    With ``resume`` an existing file is continued: its half-written last line, if any, is dropped.
    Without it the file is started afresh. ``columns``: the result columns (``score --profile`` adds one).
    """
    if path is None:
        return CsvResultWriter(sys.stdout, columns=columns)
    path = Path(path)
    suffix = output_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        return ParquetResultWriter(path, resume=resume, columns=columns)
    continuing = resume and path.is_file() and _drop_partial_line(path) > 0
    if continuing and suffix == ".csv":
        _check_csv_header(path, columns)
    stream = path.open("a" if continuing else "w", encoding="utf-8", newline="")
    if suffix == ".csv":
        return CsvResultWriter(stream, header=not continuing, columns=columns)
    return JsonlResultWriter(stream)


def read_rows(path: Union[str, Path]) -> Iterator[Row]:
    """Rows of an existing result file (for Parquet, also its journal), numbers as floats, gaps as None."""
    path = Path(path)
    suffix = output_format(path)
    if suffix == ".csv":
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    if row.get("error") is not None:  # a row cut short by a kill has no last column
                        yield _typed(row)
    elif suffix == ".jsonl":
        yield from _read_jsonl(path)
    else:
        if path.is_file():
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=_PARQUET_CHUNK):
                yield from batch.to_pylist()
        yield from _read_jsonl(journal_path(path))


class Ranking:
    """The ``n`` best and worst scored rows, kept in two bounded heaps (memory does not grow)."""

    def __init__(self, n: int, column: str = "score"):
        self.n = n
        self.column = column
        self._best: list[tuple[float, str]] = []
        self._worst: list[tuple[float, str]] = []

    def add(self, row: Row) -> None:
        if row.get(self.column) is None:
            return
        score, path = float(row[self.column]), str(row["path"])
        for heap, key in ((self._best, score), (self._worst, -score)):
            (heapq.heappush if len(heap) < self.n else heapq.heappushpop)(heap, (key, path))

    def best(self) -> list[tuple[float, str]]:
        return sorted(self._best, reverse=True)

    def worst(self) -> list[tuple[float, str]]:
        return [(-key, path) for key, path in sorted(self._worst, reverse=True)]

    def format(self) -> str:
        lines = []
        name = "final score" if self.column == "score" else f"{self.column} score"
        for title, entries in ((f"top {self.n} by {name}", self.best()),
                               (f"bottom {self.n} by {name}", self.worst())):
            lines.append(title + ":")
            lines += [f"  {rank:>4}  {score:.4f}  {path}" for rank, (score, path) in enumerate(entries, 1)]
        return "\n".join(lines)


def _typed(row: Row) -> Row:
    typed: Row = {"path": row["path"], "error": row.get("error") or None}
    typed.update({c: float(v) if v not in (None, "") else None for c, v in row.items() if c not in typed})
    return {c: typed.get(c) for c in (*RESULT_COLUMNS, *(c for c in row if c not in RESULT_COLUMNS))}


def _read_jsonl(path: Path) -> Iterator[Row]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return  # half-written by a killed run
            yield json.loads(line)


def _drop_partial_line(path: Path) -> int:
    """Cut a file after its last newline (a killed run may leave half a row); returns the new size."""
    if not path.is_file():
        return 0
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        start = max(0, size - 65536)
        handle.seek(start)
        tail = handle.read()
        end = start + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
        if end != size:
            handle.truncate(end)
    return end


def _check_csv_header(path: Path, columns: Sequence[str] = RESULT_COLUMNS) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    if tuple(header) != tuple(columns):
        raise DataError(f"{path}: not a score file (columns {', '.join(header)}); choose another --output to resume")


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise DataError("Parquet output needs the optional extra: pip install 'persona-iaa[parquet]'") from None
