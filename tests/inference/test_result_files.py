"""Result files: CSV / JSONL / Parquet by extension, flushed row by row, resumable after a kill."""
from __future__ import annotations

import csv
import io
import os

import pytest

from persona_iaa.errors import DataError
from persona_iaa.inference.engine import RESULT_COLUMNS, ScoreResult
from persona_iaa.inference.writers import (
    PATH_BYTES_COLUMN,
    CsvResultWriter,
    Ranking,
    check_output,
    journal_path,
    open_result_writer,
    read_rows,
)
from persona_iaa.terminal import printable


def rows(n: int, start: int = 0) -> list[dict]:
    made = []
    for i in range(start, start + n):
        result = ScoreResult(f"/photos/{i}.jpg", error="broken" if i % 3 == 2 else None)
        if result.ok:
            result.score, result.aesthetic, result.personality = i / 10, i / 20, (0.1, -0.2, 0.3, -0.4, 0.5)
        made.append(result.as_row())
    return made


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_rows_round_trip_with_gaps_for_failures(tmp_path, suffix):
    path = tmp_path / "new folder" / f"scores{suffix}"
    writer = open_result_writer(path)
    for row in rows(5):
        writer.write(row)
    writer.close()
    back = list(read_rows(path))
    assert back == rows(5) and list(back[0]) == list(RESULT_COLUMNS)
    assert back[2]["score"] is None and back[2]["error"] == "broken"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rows_are_on_disk_before_close_and_a_half_written_line_is_dropped_on_resume(tmp_path, suffix):
    path = tmp_path / f"scores{suffix}"
    writer = open_result_writer(path)
    for row in rows(4):
        writer.write(row)
    assert [r["path"] for r in read_rows(path)] == [r["path"] for r in rows(4)]  # flushed, not buffered
    with path.open("a") as handle:
        handle.write('/photos/half-writ')  # what a kill in the middle of a write leaves
    resumed = open_result_writer(path, resume=True)
    for row in rows(2, start=4):
        resumed.write(row)
    resumed.close()
    assert list(read_rows(path)) == rows(6)


def test_parquet_keeps_a_killed_run_in_its_journal_and_folds_it_in(tmp_path):
    path = tmp_path / "scores.parquet"
    killed = open_result_writer(path)
    for row in rows(3):
        killed.write(row)  # never closed: the process died here
    assert journal_path(path).is_file() and not path.exists()
    assert list(read_rows(path)) == rows(3)
    resumed = open_result_writer(path, resume=True)
    for row in rows(2, start=3):
        resumed.write(row)
    resumed.close()
    assert not journal_path(path).exists() and list(read_rows(path)) == rows(5)
    again = open_result_writer(path, resume=True)
    again.write(rows(1, start=5)[0])
    again.close()
    assert list(read_rows(path)) == rows(6)
    fresh = open_result_writer(path)  # without resume the file starts afresh
    assert list(read_rows(path)) == []
    fresh.close()
    assert list(read_rows(path)) == []


def test_unknown_extensions_and_foreign_csv_files_are_refused(tmp_path):
    with pytest.raises(DataError, match=".csv, .jsonl, .parquet"):
        open_result_writer(tmp_path / "scores.xlsx")
    foreign = tmp_path / "labels.csv"
    foreign.write_text("image,label\na.jpg,3\n")
    with pytest.raises(DataError, match="not a score file"):
        open_result_writer(foreign, resume=True)


def test_ranking_keeps_the_best_and_worst_only():
    ranking = Ranking(2)
    for row in rows(9):
        ranking.add(row)
    assert [p for _, p in ranking.best()] == ["/photos/7.jpg", "/photos/6.jpg"]
    assert [p for _, p in ranking.worst()] == ["/photos/0.jpg", "/photos/1.jpg"]
    assert "top 2" in ranking.format() and "0.700  /photos/7.jpg" in ranking.format()


# --- paths of any bytes, awkward characters, kills at the worst moment, hostile cells -----------------------

NON_UTF8 = os.fsdecode(b"/photos/caf\xe9 \xff\xfe.jpg")  # not UTF-8: Python keeps the bytes as surrogates
SHOWN = "/photos/caf\\xe9 \\xff\\xfe.jpg"
AWKWARD = [NON_UTF8, "/photos/carriage\rreturn.jpg", "/photos/new\nline.jpg", "/photos/both\r\n.jpg",
           '/photos/"quoted", comma.jpg', "/photos/plain.jpg"]


def rows_for(paths: list[str]) -> list[dict]:
    made = []
    for i, path in enumerate(paths):
        result = ScoreResult(path, score=i / 10, aesthetic=i / 20, personality=(0.1, -0.2, 0.3, -0.4, 0.5))
        made.append(result.as_row())
    return made


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_any_file_name_round_trips_exactly_through_every_format_and_resume(tmp_path, suffix):
    path = tmp_path / f"scores{suffix}"
    expected = rows_for(AWKWARD)
    writer = open_result_writer(path)
    for row in expected[:3]:
        writer.write(row)
    writer.close()
    resumed = open_result_writer(path, resume=True)
    for row in expected[3:]:
        resumed.write(row)
    resumed.close()
    assert list(read_rows(path)) == expected
    if suffix == ".csv":  # the raw bytes of the name are in the file, and every record is one row
        assert b"caf\xe9 \xff\xfe.jpg" in path.read_bytes()
        with path.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
            assert len(list(csv.reader(handle))) == 1 + len(AWKWARD)


def test_parquet_keeps_the_raw_bytes_of_a_non_utf8_name_beside_a_readable_path(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "scores.parquet"
    writer = open_result_writer(path)
    for row in rows_for([NON_UTF8, "/photos/plain.jpg"]):
        writer.write(row)
    writer.close()
    table = pq.read_table(path).to_pylist()
    assert table[0]["path"] == SHOWN and table[0][PATH_BYTES_COLUMN] == os.fsencode(NON_UTF8)
    assert table[1]["path"] == "/photos/plain.jpg" and table[1][PATH_BYTES_COLUMN] is None


def test_resume_cuts_a_csv_torn_inside_a_quoted_multiline_path(tmp_path):
    path = tmp_path / "scores.csv"
    expected = rows_for(["/photos/a.jpg", "/photos/two\nlines.jpg", "/photos/b.jpg", "/photos/c.jpg"])
    writer = open_result_writer(path)
    for row in expected[:2]:
        writer.write(row)
    writer.close()
    with path.open("a", newline="") as handle:
        handle.write('"/photos/torn\ninside the quotes')  # killed in the middle of a quoted two-line path
    assert list(read_rows(path)) == expected[:2]  # the torn record is not a row
    resumed = open_result_writer(path, resume=True)
    for row in expected[2:]:
        resumed.write(row)
    resumed.close()
    assert list(read_rows(path)) == expected


def test_a_parquet_fold_killed_before_the_journal_is_deleted_does_not_duplicate_rows(tmp_path):
    path = tmp_path / "scores.parquet"
    expected = rows(5)
    writer = open_result_writer(path)
    for row in expected[:3]:
        writer.write(row)
    journal = journal_path(path).read_bytes()
    writer.close()
    journal_path(path).write_bytes(journal)  # the kill came after the rename, before the journal was deleted
    assert list(read_rows(path)) == expected[:3]
    resumed = open_result_writer(path, resume=True)
    for row in expected[3:]:
        resumed.write(row)
    resumed.close()
    assert list(read_rows(path)) == expected and not journal_path(path).exists()


FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\tTAB", "\rCR", "'already quoted", "plain"]


def test_csv_safe_neutralises_formula_cells_by_default_and_reads_them_back_exactly(tmp_path):
    expected = rows_for(FORMULAS)
    expected[0]["error"] = "=cmd|' /C calc'!A0"
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    for path, options in ((safe, {}), (raw, {"csv_safe": False})):
        writer = open_result_writer(path, **options)
        for row in expected:
            writer.write(row)
        writer.close()
    with safe.open(newline="") as handle:
        cells = list(csv.DictReader(handle))
    assert [c["path"] for c in cells] == ["'" + p for p in FORMULAS[:-1]] + ["plain"]
    assert cells[0]["error"].startswith("'=") and cells[0]["C"] == "-0.2"  # numbers are left alone
    assert list(read_rows(safe)) == expected
    assert list(read_rows(raw, csv_safe=False)) == expected
    with raw.open(newline="") as handle:
        assert [c["path"] for c in csv.DictReader(handle)] == FORMULAS


def test_terminal_output_escapes_control_characters_and_undecodable_bytes():
    hostile = "/photos/\x1b]0;owned\x07\x1b[31mred\u202e.jpg"
    shown = printable(hostile)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert shown.startswith("/photos/\\x1b]0;owned\\x07") and printable(NON_UTF8) == SHOWN
    assert printable("/photos/été.jpg") == "/photos/été.jpg"
    ranking = Ranking(1)
    ranking.add(rows_for([hostile])[0])
    assert "\x1b" not in ranking.format() and shown in ranking.format()


def test_csv_on_a_terminal_is_escaped_and_csv_on_a_pipe_keeps_the_bytes(capsysbinary):
    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    writer = CsvResultWriter(screen, terminal=True)
    writer.write(rows_for(["/photos/\x1b[2Jclear.jpg"])[0])
    assert b"\x1b" not in screen.getvalue() and b"\\x1b[2Jclear" in screen.getvalue()
    piped = open_result_writer(None)
    piped.write(rows_for([NON_UTF8])[0])
    piped.close()
    assert b"caf\xe9 \xff\xfe.jpg" in capsysbinary.readouterr().out


@pytest.mark.parametrize("suffix, content, message", [
    (".csv", "path,score,aesthetic,O,C,E,A,N,error\n/a.jpg,high,0.1,0,0,0,0,0,\n", "score is not a number"),
    (".jsonl", '{"path": "/a.jpg", "score": 0.5}\nnot json at all\n', "line 2"),
    (".jsonl", '[1, 2]\n', "line 1"),
    (".parquet", "PAR1 this is no Parquet file", "not a Parquet score file"),
])
def test_a_malformed_score_file_is_one_error_line(tmp_path, suffix, content, message):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    path = tmp_path / f"scores{suffix}"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        list(read_rows(path))  # what --resume reads first (the command's test checks its one line)


def test_an_output_that_is_a_folder_or_cannot_be_created_is_refused_before_scoring(tmp_path):
    (tmp_path / "scores.csv").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        check_output(tmp_path / "scores.csv")
    with pytest.raises(DataError, match="is a folder"):
        open_result_writer(tmp_path / "scores.csv")
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="cannot write"):
        check_output(tmp_path / "file" / "scores.jsonl")
    with pytest.raises(DataError, match="cannot write"):
        open_result_writer(tmp_path / "file" / "scores.jsonl")
