"""Scoring across processes: ``--shard I/N`` + ``merge``, and torchrun ranks (gloo on CPU), each equal to a
one-process run of the same mixed folder (good and broken files), row for row and in the same order."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from persona_iaa.cli import main
from persona_iaa.errors import DataError
from persona_iaa.inference.collection import merge_parts, score_share, shard_info_path
from persona_iaa.inference.sharding import Shard, part_path
from persona_iaa.inference.writers import open_result_writer, read_rows

SCORE = ["--workers", "0", "--batch-size", "2", "--engine", "torch"]


def _rows(path: Path) -> list[dict]:
    return list(read_rows(path))


def _same_rows(got: list[dict], expected: list[dict]) -> None:
    assert [r["path"] for r in got] == [r["path"] for r in expected]
    assert [r["error"] for r in got] == [r["error"] for r in expected]
    for a, b in zip(got, expected):
        for column, value in b.items():
            if isinstance(value, float):
                assert a[column] == pytest.approx(value, abs=1e-5), (a["path"], column)


@pytest.fixture(scope="module")
def folder(image_kinds) -> Path:
    return next(iter(image_kinds.values())).parent


@pytest.fixture(scope="module")
def one_process(trained_run, folder, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("one") / "scores.csv"
    assert main(["score", "--checkpoint", str(trained_run), str(folder), "--output", str(out), *SCORE]) == 3
    rows = _rows(out)
    assert any(r["error"] for r in rows) and any(not r["error"] for r in rows)
    return rows


def test_shards_and_merge_equal_one_process_run(trained_run, folder, one_process, tmp_path, capsys):
    parts = [tmp_path / "s.part0.csv", tmp_path / "s.part1.jsonl", tmp_path / "s.part2.csv"]
    for index, part in enumerate(parts):
        main(["score", "--checkpoint", str(trained_run), str(folder), "--output", str(part),
              "--shard", f"{index}/3", *SCORE])
        assert json.loads(shard_info_path(part).read_text())["complete"] is True
    merged = tmp_path / "merged.parquet"
    assert main(["merge", *map(str, reversed(parts)), "--output", str(merged)]) == 0
    _same_rows(_rows(merged), one_process)
    assert main(["merge", *map(str, parts), "--output", str(merged)]) == 2  # refuses to replace results
    assert "already holds results" in capsys.readouterr().err


def _fake_part(path: Path, shard: Shard, total: int, *, complete: bool = True, rows: int | None = None
               ) -> Path:
    writer = open_result_writer(path)
    for i in range(len(range(*shard.bounds(total))) if rows is None else rows):
        writer.write({"path": f"{shard.index}-{i}.jpg", "error": "x"})
    writer.close()
    shard_info_path(path).write_text(json.dumps({"index": shard.index, "count": shard.count, "total": total,
                                                 "complete": complete}))
    return path


@pytest.mark.parametrize("case,message", [
    ("missing", "missing"), ("duplicate", "both hold share"), ("count", "other parts are of"),
    ("unfinished", "unfinished"), ("short", "holds 1 rows"), ("no-record", "shard.json"),
])
def test_merge_refuses_an_incomplete_or_mixed_set(tmp_path, case, message):
    a = _fake_part(tmp_path / "a.csv", Shard(0, 2), 5)
    b_path = tmp_path / "b.csv"
    make = {
        "missing": lambda: None,
        "duplicate": lambda: _fake_part(b_path, Shard(0, 2), 5),
        "count": lambda: _fake_part(b_path, Shard(1, 3), 5),
        "unfinished": lambda: _fake_part(b_path, Shard(1, 2), 5, complete=False),
        "short": lambda: _fake_part(b_path, Shard(1, 2), 5, rows=1),
        "no-record": lambda: shard_info_path(_fake_part(b_path, Shard(1, 2), 5)).unlink() or b_path,
    }
    b = make[case]()
    out = tmp_path / "out.csv"
    with pytest.raises(DataError, match=message):
        merge_parts([a] + ([b] if b else []), out)
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def _torchrun(target: list[str], trained_run: Path, folder: Path, out: Path, *extra: str
              ) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               *target, "score", "--checkpoint", str(trained_run), str(folder), "--output", str(out),
               *SCORE, *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_torchrun_ranks_equal_one_process_run_and_resume_after_a_killed_rank(trained_run, folder, one_process,
                                                                              tmp_path):
    out = tmp_path / "scores.csv"
    crash = _torchrun([str(Path(__file__).with_name("rank_crash.py"))], trained_run, folder, out)
    assert crash.returncode != 0 and not out.exists(), crash.stderr[-2000:]
    killed = part_path(out, Shard(1, 2))
    assert json.loads(shard_info_path(killed).read_text())["complete"] is False
    assert 0 < len(_rows(killed)) < len(Shard(1, 2).select(one_process))
    resumed = _torchrun(["-m", "persona_iaa"], trained_run, folder, out, "--resume")
    assert out.is_file(), resumed.stderr[-2000:]
    _same_rows(_rows(out), one_process)  # every image exactly once, in input order

    fresh = tmp_path / "fresh.jsonl"
    _torchrun(["-m", "persona_iaa"], trained_run, folder, fresh)
    _same_rows(_rows(fresh), one_process)


def test_shard_needs_an_output_and_not_torchrun(trained_run, folder, capsys, monkeypatch):
    assert main(["score", "--checkpoint", str(trained_run), str(folder), "--shard", "0/2"]) == 2
    assert "--output" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["score", "--checkpoint", str(trained_run), str(folder), "--shard", "0/2",
                 "--output", "x.csv"]) == 2
    assert "torchrun" in capsys.readouterr().err


def test_gpu_decode_is_refused_without_cuda(trained_run, folder, capsys):
    assert main(["score", "--checkpoint", str(trained_run), str(folder), "--device", "cpu",
                 "--gpu-decode"]) == 2
    assert "--gpu-decode needs a CUDA device" in capsys.readouterr().err


def test_a_resumed_share_must_be_the_same_share_of_the_same_inputs(tmp_path):
    part = _fake_part(tmp_path / "p.csv", Shard(0, 2), 5)
    for shard, total in ((Shard(0, 2), 7), (Shard(1, 2), 5), (Shard(0, 3), 5)):
        with pytest.raises(DataError, match="the inputs changed"):
            score_share(None, [f"{i}.jpg" for i in range(total)], part, shard, resume=True)
    shard_info_path(part).write_text("{")
    with pytest.raises(DataError, match="not a shard record"):
        score_share(None, ["a.jpg"], part, Shard(0, 2), resume=True)
