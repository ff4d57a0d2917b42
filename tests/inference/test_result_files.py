"""Result files: CSV / JSONL / Parquet by extension, flushed row by row, resumable after a kill."""
from __future__ import annotations

import pytest

from persona_iaa.errors import DataError
from persona_iaa.inference.engine import RESULT_COLUMNS, ScoreResult
from persona_iaa.inference.writers import Ranking, journal_path, open_result_writer, read_rows


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
    assert "top 2" in ranking.format() and "0.7000  /photos/7.jpg" in ranking.format()
