"""Scoring a whole collection into one result file, and shares of it into part files merged afterwards.

Why here and not in the CLI: ``persona-iaa score``, its ``--shard`` form, torchrun ranks and
``persona-iaa merge`` all need the same loop (expand the inputs, skip the paths a resumed file already
holds, stream every row to the writer, count failures), so it lives once in the library and the CLI only
parses arguments and prints.

A part file carries a small sidecar ``PART.shard.json`` (index, count, total inputs, complete) so that
:func:`merge_parts` can put parts in shard order and refuse a missing, duplicated, unfinished or
mismatched part instead of writing a silently incomplete result.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from ..constants import IMAGE_EXTENSIONS
from ..errors import DataError
from ..files import atomic_write
from .results import RESULT_COLUMNS
from .sharding import Shard
from .writers import Ranking, journal_path, open_result_writer, read_rows

log = logging.getLogger(__name__)
PathLike = Union[str, Path]
Row = dict[str, Any]


@dataclasses.dataclass
class CollectionRun:
    """What one scoring pass did: rows written now, failures in the whole file (resumed rows included)."""

    scored: int = 0
    failed: int = 0
    resumed: int = 0
    kept: list[Row] = dataclasses.field(default_factory=list)


def expand_inputs(inputs: Sequence[str], skipped: Optional[list] = None) -> list[str]:
    """Every image path of ``inputs`` (files, folders, @lists) in the one deterministic order shards use."""
    from .inputs import iter_image_paths

    paths = list(iter_image_paths(inputs, skipped if skipped is not None else []))
    if not paths:
        raise DataError(f"no images found in {' '.join(inputs)} (image extensions: "
                        f"{', '.join(sorted(IMAGE_EXTENSIONS))})")
    return paths


def score_collection(predictor: Any, paths: Sequence[str], output: Optional[PathLike], *,
                     resume: bool = False, csv_safe: bool = True, ranking: Optional[Ranking] = None,
                     keep: bool = False, progress: Optional[Callable[..., Iterable]] = None,
                     columns: Sequence[str] = RESULT_COLUMNS) -> CollectionRun:
    """Score ``paths`` into ``output`` (CSV on stdout when None), streaming and flushing every row.

    With ``resume`` the paths already in ``output`` are skipped (the file is read before anything is
    written, so a malformed file is refused untouched). ``keep`` also returns the new rows (for sidecars
    when they go to stdout); ``progress`` wraps the result iterator (e.g. tqdm); ``columns`` are the
    result columns (a personalised scorer adds ``personal``).
    """
    run = CollectionRun()
    if resume and output is not None:
        done = set()
        for row in read_rows(output, csv_safe=csv_safe):
            done.add(row["path"])
            run.failed += row["error"] is not None
            if ranking:
                ranking.add(row)
        run.resumed = len(done)
        paths = [p for p in paths if p not in done]
    writer = open_result_writer(output, resume=resume, csv_safe=csv_safe, columns=columns)
    try:
        results = predictor.score(list(paths))
        for result in (progress(results, total=len(paths)) if progress else results):
            row = result.as_row()
            writer.write(row)
            run.scored += 1
            run.failed += not result.ok
            if keep:
                run.kept.append(row)
            if ranking:
                ranking.add(row)
    finally:
        writer.close()
    return run


def shard_info_path(part: PathLike) -> Path:
    """The sidecar that says which share a part file holds: ``scores.part-0-of-4.csv.shard.json``."""
    part = Path(part)
    return part.with_name(part.name + ".shard.json")


def score_share(predictor: Any, paths: Sequence[str], part: PathLike, shard: Shard, **options: Any
                ) -> CollectionRun:
    """Score ``shard``'s share of ``paths`` (the whole expanded list) into ``part`` and its sidecar.

    The sidecar is written (incomplete) before the first row and marked complete after the last, so a
    merge never mistakes a killed share for a finished one; ``resume`` continues the part.
    """
    info = shard_info_path(part)
    share = shard.select(paths)
    if options.get("resume") and info.is_file():
        _check_same_share(info, shard, len(paths))
    _write_info(info, shard, len(paths), complete=False)
    run = score_collection(predictor, share, part, **options)
    _write_info(info, shard, len(paths), complete=True)
    return run


def merge_parts(parts: Sequence[PathLike], output: PathLike, *, csv_safe: bool = True) -> int:
    """Join finished part files in shard order into ``output`` (written atomically); returns the rows.

    Refused with one line when a share is missing, given twice, unfinished, from another split (N or
    input count differ) or holds another number of rows than its share.
    """
    ordered = _ordered_parts(parts)
    output = Path(output)
    staging = output.with_name(f".{output.stem}.merging{output.suffix}")
    for stale in (staging, journal_path(staging)):
        stale.unlink(missing_ok=True)
    writer = open_result_writer(staging, csv_safe=csv_safe, columns=_columns_of(ordered[0][0], csv_safe))
    rows = 0
    try:
        for part, expected in ordered:
            count = 0
            for row in read_rows(part, csv_safe=csv_safe):
                writer.write(row)
                count += 1
            if count != expected:
                raise DataError(f"{part}: holds {count} rows but its share has {expected}; "
                                "finish it with --resume before merging")
            rows += count
    except BaseException:
        writer.close()
        staging.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(staging, output)
    return rows


def _ordered_parts(parts: Sequence[PathLike]) -> list[tuple[Path, int]]:
    """(part, expected rows) in shard order, after checking the parts form one whole finished split."""
    seen: dict[int, Path] = {}
    split: Optional[tuple[int, int]] = None
    for part in map(Path, parts):
        info = _read_info(part)
        if split is not None and (info["count"], info["total"]) != split:
            raise DataError(f"{part}: is share {info['index']}/{info['count']} of {info['total']} inputs, "
                            f"the other parts are of {split[0]} shares of {split[1]}")
        split = (info["count"], info["total"])
        if info["index"] in seen:
            raise DataError(f"{part} and {seen[info['index']]} both hold share "
                            f"{info['index']}/{info['count']}")
        if not info["complete"]:
            raise DataError(f"{part}: share {info['index']}/{info['count']} is unfinished; "
                            "finish it with --resume before merging")
        seen[info["index"]] = part
    if split is None:
        raise DataError("merge needs at least one part file")
    missing = [str(i) for i in range(split[0]) if i not in seen]
    if missing:
        raise DataError(f"share(s) {', '.join(missing)} of {split[0]} missing: give every part file")
    shards = [Shard(i, split[0]) for i in range(split[0])]
    return [(seen[s.index], len(range(*s.bounds(split[1])))) for s in shards]


def _read_info(part: Path) -> dict[str, Any]:
    info = shard_info_path(part)
    if not part.is_file():
        raise DataError(f"{part}: no such part file")
    try:
        data = json.loads(info.read_text(encoding="utf-8"))
        checked = {key: data[key] for key in ("index", "count", "total", "complete")}
        Shard(int(checked["index"]), int(checked["count"]))
    except FileNotFoundError:
        raise DataError(f"{part}: no {info.name} beside it (was it written by score --shard?)") from None
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{info}: not a shard record ({error})") from None
    return checked


def _write_info(info: Path, shard: Shard, total: int, *, complete: bool) -> None:
    record = {"index": shard.index, "count": shard.count, "total": total, "complete": complete}
    text = json.dumps(record) + "\n"
    atomic_write(info, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _check_same_share(info: Path, shard: Shard, total: int) -> None:
    """A resumed part must be the same share of the same inputs, else its rows would be misplaced."""
    try:
        data = json.loads(info.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{info}: not a shard record ({error}); start afresh with --overwrite") from None
    if not isinstance(data, dict):
        raise DataError(f"{info}: not a shard record; start afresh with --overwrite")
    if (data.get("index"), data.get("count"), data.get("total")) != (shard.index, shard.count, total):
        raise DataError(f"{info}: holds share {data.get('index')}/{data.get('count')} of {data.get('total')} "
                        f"inputs, not {shard} of {total}: the inputs changed; start afresh with --overwrite")



def _columns_of(part: Path, csv_safe: bool) -> Sequence[str]:
    """The result columns of a part file (those of its first row): parts scored with a profile add one."""
    first = next(iter(read_rows(part, csv_safe=csv_safe)), None)
    return tuple(first) if first else RESULT_COLUMNS


def score_ranks(predictor: Any, paths: Sequence[str], output: PathLike, *, resume: bool = False,
                csv_safe: bool = True, columns: Sequence[str] = RESULT_COLUMNS) -> Optional[int]:
    """Under torchrun: score this rank's share into its part file, wait for all ranks, rank 0 merges.

    Returns the merged row count on rank 0 and None on the others. ``resume`` continues every part;
    the merged file is rebuilt from the parts (which stay, so a rerun with ``--resume`` is cheap).
    """
    from .sharding import RankGroup, part_path

    shard = Shard.from_torchrun()
    group = RankGroup()
    try:
        score_share(predictor, paths, part_path(output, shard), shard, resume=resume, csv_safe=csv_safe,
                    columns=columns)
        group.barrier()
        merged = None
        if group.rank == 0:
            parts = [part_path(output, Shard(i, shard.count)) for i in range(shard.count)]
            merged = merge_parts(parts, output, csv_safe=csv_safe)
            log.info("merged %d part files into %s (%d rows)", shard.count, output, merged)
        group.barrier()  # the others exit only after the merge, so torchrun does not stop rank 0 early
        return merged
    finally:
        group.close()
