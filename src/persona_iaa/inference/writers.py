"""Result files of ``persona-iaa score``: CSV, JSONL or Parquet by extension, streamed and resumable.

Every row is flushed as soon as it is written, so a killed run keeps all finished rows; ``resume``
appends to the file (after dropping a half-written last record) and :func:`read_rows` tells which
paths are done. Parquet cannot be appended to, so rows stream into a JSONL journal next to it
(``FILE.parquet.partial.jsonl``) that is folded into the Parquet file when the run ends.

Paths round-trip exactly, whatever bytes a file name holds. Python gives undecodable name bytes as
lone surrogates (``surrogateescape``); CSV files are written in UTF-8 with the same error handler,
so such a name's raw bytes are in the file and read back to the same ``str``; JSONL escapes them
(``"\\udce9"``); Parquet strings must be valid UTF-8, so there ``path`` holds a readable form
(``caf\\xe9.jpg``) and the ``path_bytes`` column the exact bytes (null when ``path`` is exact).

CSV cells a spreadsheet would run as a formula (starting with ``= + - @``, tab or CR) are prefixed
with a single quote when ``csv_safe`` (OWASP's advice; the default for CSV): see :func:`csv_safe_cell`.
"""
from __future__ import annotations

import csv
import hashlib
import heapq
import io
import json
import os
import sys
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Optional, Sequence, Union

from ..errors import DataError
from ..extras import require_extra
from ..files import atomic_write
from ..terminal import printable
from .engine import RESULT_COLUMNS

OUTPUT_FORMATS: tuple[str, ...] = (".csv", ".jsonl", ".parquet")
TEXT_ENCODING, TEXT_ERRORS = "utf-8", "surrogateescape"
_CODEC = (TEXT_ENCODING, TEXT_ERRORS)
#: Parquet column with a path's exact bytes when it is not valid UTF-8 (null otherwise).
PATH_BYTES_COLUMN = "path_bytes"
#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_TEXT_COLUMNS = ("path", "error")
_NUMBER_COLUMNS = [c for c in RESULT_COLUMNS if c not in _TEXT_COLUMNS]
_PARQUET_CHUNK = 8192  # rows per Parquet row group when folding the journal in
_FOLDED_KEY = b"persona_iaa.folded_journal"  # Parquet metadata: "<bytes>:<sha256>" of the journal folded in
_CHUNK = 1 << 20
Row = dict[str, Any]
PathLike = Union[str, Path]


def output_format(path: PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise DataError(f"{path}: output must end in {', '.join(OUTPUT_FORMATS)} (CSV, JSONL or Parquet)")
    return suffix


def check_output(path: PathLike) -> str:
    """The format of ``path``, after checking it can be written: called before scoring, so a bad
    ``--output`` costs one line, not a run."""
    suffix = output_format(path)
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder: --output needs a file name ending in "
                        f"{', '.join(OUTPUT_FORMATS)}")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise DataError(f"{path}: cannot write there: {folder} is not a folder")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise DataError(f"{path}: cannot write there: permission denied on {target}")
    return suffix


def journal_path(path: PathLike) -> Path:
    return Path(f"{path}.partial.jsonl")


def csv_safe_cell(text: str) -> str:
    """OWASP's neutralisation of spreadsheet formulas: a leading single quote.

    A cell that already starts with a quote gets one too, so :func:`csv_unsafe_cell` gives the
    exact text back (paths must round-trip through ``--resume``).
    """
    return "'" + text if text[:1] in FORMULA_STARTS or text[:1] == "'" else text


def csv_unsafe_cell(text: str) -> str:
    """The text :func:`csv_safe_cell` was given."""
    return text[1:] if text[:1] == "'" and (text[1:2] in FORMULA_STARTS or text[1:2] == "'") else text


class CsvResultWriter:
    """CSV rows (empty cells for missing values), flushed one by one, to a file or stdout.

    Any field holding CR or LF is quoted (the csv module quotes only the characters of its line
    terminator, so rows are formatted with CRLF and written with LF). ``stream`` may be binary (rows
    are encoded in UTF-8 with ``surrogateescape``) or an ``io.TextIOBase``. ``csv_safe`` neutralises
    formula cells (:func:`csv_safe_cell`); ``terminal`` escapes control characters in the text cells
    (for a person watching, not for a file). ``borrowed`` streams (stdout) are flushed, not closed.
    """

    def __init__(self, stream: IO, *, header: bool = True, csv_safe: bool = True, terminal: bool = False,
                 borrowed: Optional[bool] = None, columns: Sequence[str] = RESULT_COLUMNS):
        self.stream = stream
        self.csv_safe, self.terminal = csv_safe, terminal
        if borrowed is None:
            borrowed = stream in (sys.stdout, getattr(sys.stdout, "buffer", None))
        self.borrowed = borrowed
        self._binary = not isinstance(stream, io.TextIOBase)
        self._line = io.StringIO()
        self.writer = csv.DictWriter(self._line, fieldnames=list(columns), lineterminator="\r\n")
        if header:
            self.writer.writeheader()
            self._emit()

    def write(self, row: Row) -> None:
        cells = dict(row)
        for column in _TEXT_COLUMNS:
            text = cells.get(column)
            if text:
                text = printable(text) if self.terminal else text
                cells[column] = csv_safe_cell(text) if self.csv_safe else text
        self.writer.writerow(cells)
        self._emit()

    def _emit(self) -> None:
        line = self._line.getvalue()[:-2] + "\n"
        self._line.seek(0)
        self._line.truncate()
        if self._binary:
            self.stream.write(line.encode(*_CODEC))
        else:  # a text stream may not take lone surrogates: show their bytes instead
            self.stream.write(_readable(line))
        self.stream.flush()

    def close(self) -> None:
        if self.borrowed:
            self.stream.flush()
        else:
            self.stream.close()


class JsonlResultWriter:
    """One JSON object per line, flushed one by one (undecodable name bytes as ``\\udcXX`` escapes)."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def write(self, row: Row) -> None:
        self.stream.write(json.dumps(row, allow_nan=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()


class ParquetResultWriter:
    """Streams rows into the JSONL journal; :meth:`close` folds earlier rows and the journal into Parquet.

    The fold is idempotent: the Parquet file records the size and SHA-256 of the journal it took in,
    so a kill between the rename and the journal's deletion does not make those rows count twice.
    """

    def __init__(self, path: Path, *, resume: bool, columns: Sequence[str] = RESULT_COLUMNS):
        _require_pyarrow()
        self.path, self.columns = path, tuple(columns)
        self.journal = journal_path(path)
        if not resume:  # start afresh, as a CSV file opened for writing does
            self.journal.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
        elif path.is_file():
            _parquet_file(path)  # a malformed file is refused now, not folded into
            _drop_folded_journal(path)
        _truncate(self.journal, _last_line_end)
        self.keep_existing = resume
        self.rows = JsonlResultWriter(_open_text(self.journal, "a"))

    def write(self, row: Row) -> None:
        self.rows.write(row)

    def close(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.rows.close()
        rows = read_rows(self.path) if self.keep_existing else _read_jsonl(self.journal)
        size, digest = _file_digest(self.journal)
        schema = _parquet_schema(self.columns).with_metadata({_FOLDED_KEY: f"{size}:{digest}".encode()})

        def fold(tmp: str) -> None:
            with pq.ParquetWriter(tmp, schema) as writer:
                for chunk in _chunks(rows, _PARQUET_CHUNK):
                    records = [_parquet_record(r) for r in chunk]
                    writer.write_table(pa.Table.from_pylist(records, schema=schema))

        _os_errors(self.path, atomic_write, self.path, fold)
        self.journal.unlink()


ResultWriter = Union[CsvResultWriter, JsonlResultWriter, ParquetResultWriter]


def open_result_writer(path: Optional[PathLike], *, resume: bool = False,
                       csv_safe: Optional[bool] = None, columns: Sequence[str] = RESULT_COLUMNS
                       ) -> ResultWriter:
    """A writer for ``path`` by extension (CSV to stdout when ``path`` is None).

    With ``resume`` an existing file is continued: its half-written last record, if any, is dropped.
    Without it the file is started afresh. ``csv_safe`` (default: on) neutralises formula cells in CSV.
    ``columns``: the result columns (``score --profile`` adds ``personal`` after the standard ones).
    """
    csv_safe = True if csv_safe is None else csv_safe
    if path is None:
        sys.stdout.flush()
        terminal = sys.stdout.isatty()
        stream = getattr(sys.stdout, "buffer", sys.stdout)
        return CsvResultWriter(stream, csv_safe=csv_safe, terminal=terminal, borrowed=True, columns=columns)
    path = Path(path)
    suffix = check_output(path)
    _os_errors(path, path.parent.mkdir, parents=True, exist_ok=True)
    if suffix == ".parquet":
        return _os_errors(path, ParquetResultWriter, path, resume=resume, columns=columns)
    continuing = resume and path.is_file() and _truncate(path, _csv_records_end if suffix == ".csv"
                                                         else _last_line_end) > 0
    if continuing and suffix == ".csv":
        _check_csv_header(path, columns)
    if suffix == ".csv":
        stream = _os_errors(path, path.open, "ab" if continuing else "wb")
        return CsvResultWriter(stream, header=not continuing, csv_safe=csv_safe, columns=columns)
    return JsonlResultWriter(_os_errors(path, _open_text, path, "a" if continuing else "w"))


def read_rows(path: PathLike, *, csv_safe: Optional[bool] = None) -> Iterator[Row]:
    """Rows of an existing result file (for Parquet, also its journal), numbers as floats, gaps as None.

    ``csv_safe`` must match how a CSV file was written (default: on). A malformed file raises
    :class:`DataError` naming the place.
    """
    path = Path(path)
    suffix = output_format(path)
    if suffix == ".csv":
        yield from _read_csv(path, True if csv_safe is None else csv_safe)
    elif suffix == ".jsonl":
        yield from _read_jsonl(path)
    else:
        yield from _read_parquet(path)
        yield from _read_jsonl(journal_path(path), start=_folded_journal_bytes(path))


class Ranking:
    """The ``n`` best and worst scored rows, kept in two bounded heaps (memory does not grow)."""

    def __init__(self, n: int, column: str = "score"):
        self.n = n
        self.column = column  # "score", or "personal" when ranking by a person's own score
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
        """For a terminal: file names are passed through :func:`~persona_iaa.terminal.printable`."""
        lines = []
        name = "final score" if self.column == "score" else f"{self.column} score"
        for title, entries in ((f"top {self.n} by {name}", self.best()),
                               (f"bottom {self.n} by {name}", self.worst())):
            lines.append(title + ":")
            lines += [f"  {rank:>4}  {score:.3f}  {printable(path)}"
                      for rank, (score, path) in enumerate(entries, 1)]
        return "\n".join(lines)


# --- reading ----------------------------------------------------------------------------------------------

def _open_text(path: Path, mode: str) -> IO[str]:
    return path.open(mode, encoding=TEXT_ENCODING, errors=TEXT_ERRORS, newline="")


def _typed(row: Row, where: str) -> Row:
    typed: Row = {"path": row.get("path"), "error": row.get("error") or None}
    if not isinstance(typed["path"], str) or not typed["path"]:
        raise DataError(f"{where}: a row without a path; not a score file (choose another --output)")
    extra = [c for c in row if c not in RESULT_COLUMNS and c != PATH_BYTES_COLUMN]  # e.g. personal
    for column in (*_NUMBER_COLUMNS, *extra):
        value = row.get(column)
        try:
            typed[column] = None if value in (None, "") else float(value)
        except (TypeError, ValueError):
            raise DataError(f"{where}: {column} is not a number ({printable(str(value))[:40]!r}); "
                            "not a score file (choose another --output)") from None
    return {c: typed[c] for c in (*RESULT_COLUMNS, *extra)}


def _read_csv(path: Path, csv_safe: bool) -> Iterator[Row]:
    """Complete records only: a record torn by a kill (even inside a quoted multi-line path) is not a row."""
    if not path.is_file():
        return
    complete = _csv_records_end(path) == path.stat().st_size
    with _open_text(path, "r") as handle:
        try:
            pending, number = None, 0
            for number, row in enumerate(csv.DictReader(handle), 1):
                if pending is not None:
                    yield _typed(pending, f"{path}, record {number - 1}")
                if csv_safe:
                    row.update({c: csv_unsafe_cell(row[c]) for c in _TEXT_COLUMNS if row.get(c)})
                pending = row
            if pending is not None and complete:
                yield _typed(pending, f"{path}, record {number}")
        except csv.Error as exc:
            raise DataError(f"{path}: not a readable CSV score file ({exc})") from None


def _read_jsonl(path: Path, start: int = 0) -> Iterator[Row]:
    if not path.is_file():
        return
    with _open_text(path, "r") as handle:
        handle.seek(start)
        for number, line in enumerate(handle, 1):
            if not line.endswith("\n"):
                return  # half-written by a killed run
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                raise DataError(f"{path}, line {number}: not a JSON score row; not a score file "
                                "(choose another --output)")
            yield _typed(row, f"{path}, line {number}")


def _read_parquet(path: Path) -> Iterator[Row]:
    if not path.is_file():
        return
    for batch in _parquet_file(path).iter_batches(batch_size=_PARQUET_CHUNK):
        for row in batch.to_pylist():
            raw = row.pop(PATH_BYTES_COLUMN, None)
            if raw is not None:
                row["path"] = raw.decode(TEXT_ENCODING, TEXT_ERRORS)
            yield _typed(row, str(path))


def _parquet_file(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a Parquet score file ({printable(str(exc))[:120]}); "
                        "choose another --output") from None
    if "path" not in handle.schema_arrow.names:
        raise DataError(f"{path}: not a Parquet score file (no path column); choose another --output")
    return handle


# --- Parquet ----------------------------------------------------------------------------------------------

def _parquet_schema(columns: Sequence[str] = RESULT_COLUMNS) -> Any:
    import pyarrow as pa

    fields = [(c, pa.string() if c in _TEXT_COLUMNS else pa.float64()) for c in columns]
    return pa.schema(fields + [(PATH_BYTES_COLUMN, pa.binary())])


def _parquet_record(row: Row) -> Row:
    """Parquet strings must be valid UTF-8: a path that is not keeps its exact bytes in ``path_bytes``."""
    record = dict(row)
    readable = _readable(row["path"])
    exact = readable == row["path"]
    record["path"], record[PATH_BYTES_COLUMN] = readable, None if exact else row["path"].encode(*_CODEC)
    if row.get("error"):  # a message may quote such a name; readable is enough there
        record["error"] = _readable(row["error"])
    return record


def _readable(text: str) -> str:
    """Valid UTF-8 text: undecodable name bytes (lone surrogates) become ``\\xNN``."""
    return text.encode(*_CODEC).decode(TEXT_ENCODING, "backslashreplace")


def _folded_journal_bytes(path: Path) -> int:
    """How many leading bytes of the journal the Parquet file already holds (0 unless a kill came
    between the fold's rename and the journal's deletion)."""
    journal = journal_path(path)
    if not path.is_file() or not journal.is_file():
        return 0
    marker = (_parquet_file(path).schema_arrow.metadata or {}).get(_FOLDED_KEY, b"")
    size_text, _, digest = marker.decode(errors="replace").partition(":")
    if not size_text.isdigit() or journal.stat().st_size < int(size_text):
        return 0
    return int(size_text) if _file_digest(journal, int(size_text)) == (int(size_text), digest) else 0


def _drop_folded_journal(path: Path) -> None:
    """Finish a fold that was killed before it deleted the journal: keep only the rows it did not take in."""
    done = _folded_journal_bytes(path)
    if not done:
        return
    journal = journal_path(path)
    with journal.open("rb") as handle:
        handle.seek(done)
        rest = handle.read()
    if rest:
        atomic_write(journal, lambda tmp: Path(tmp).write_bytes(rest))
    else:
        journal.unlink()


def _file_digest(path: Path, limit: Optional[int] = None) -> tuple[int, str]:
    """Size and SHA-256 of the first ``limit`` bytes of ``path`` (all of it by default)."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while limit is None or size < limit:
            chunk = handle.read(_CHUNK if limit is None else min(_CHUNK, limit - size))
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# --- resuming ---------------------------------------------------------------------------------------------

def _truncate(path: Path, find_end: Any) -> int:
    """Cut ``path`` after its last complete record (``find_end(path)``); returns the new size."""
    if not path.is_file():
        return 0
    end = find_end(path)
    if end != path.stat().st_size:
        with path.open("rb+") as handle:
            handle.truncate(end)
    return end


def _last_line_end(path: Path) -> int:
    """Offset after the last newline (JSON lines hold no raw newline)."""
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        while end > 0:
            start = max(0, end - _CHUNK)
            handle.seek(start)
            newline = handle.read(end - start).rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return 0


def _csv_records_end(path: Path) -> int:
    """Offset after the last complete CSV record: the last newline outside quotes.

    A newline is outside quotes when an even number of ``"`` precede it (quoted fields open, double
    and close their quotes), so a record torn inside a quoted multi-line path is recognised as torn.
    """
    with path.open("rb") as handle:
        quotes = sum(chunk.count(b'"') for chunk in iter(lambda: handle.read(_CHUNK), b""))
        end = handle.tell()
        while end > 0:  # quotes = the count in the file before `end`
            start = max(0, end - _CHUNK)
            handle.seek(start)
            chunk = handle.read(end - start)
            cut = len(chunk)
            while (newline := chunk.rfind(b"\n", 0, cut)) >= 0:
                quotes -= chunk.count(b'"', newline + 1, cut)
                if quotes % 2 == 0:
                    return start + newline + 1
                cut = newline
            quotes -= chunk.count(b'"', 0, cut)
            end = start
    return 0


def _check_csv_header(path: Path, columns: Sequence[str] = RESULT_COLUMNS) -> None:
    with _open_text(path, "r") as handle:
        header = next(csv.reader(handle), [])
    if tuple(header) != tuple(columns):
        raise DataError(f"{path}: not a score file (columns {printable(', '.join(header))[:120]}); "
                        "choose another --output to resume")


# --- small helpers ----------------------------------------------------------------------------------------

def _os_errors(path: Path, call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, with an operating-system error turned into one line naming ``path``."""
    try:
        return call(*args, **kwargs)
    except OSError as exc:
        raise DataError(f"{path}: cannot write there ({exc.strerror or exc})") from None


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
    require_extra("pyarrow", "parquet", "Parquet output", DataError)
