"""``csv:FILE`` — the escape hatch for any collection.

Aesthetic CSVs have ``path,score``; personality CSVs ``path,O,C,E,A,N`` (column order free). An optional
``split`` column holds train/val/test. Relative paths resolve against the CSV's folder. Scores already in
[0, 1] are used as they are; declare ``score_range=LOW,HIGH`` for raw scales (1..10, 1..5), and
``trait_scale`` (auto, unit, bfi10, items or ``LOW,HIGH``) for traits.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..constants import TRAITS
from ..errors import DataError
from .options import RangeValue, parse_range
from .parsing import LabelRows, ScoreScale
from .records import AESTHETIC, PERSONALITY, DatasetSource, TaskUnavailable, resolve_image
from .registry import register_format
from .tables import number, open_table

COLUMNS = {AESTHETIC: ("path", "score"), PERSONALITY: ("path", *TRAITS)}


def parse_score_range(score_range: RangeValue) -> Optional[tuple[float, float]]:
    """``LOW,HIGH`` (or a two-number list) -> (low, high); None when undeclared."""
    return parse_range(score_range, "score_range")


def normalise_scores(scores: Sequence[float], score_range: Optional[tuple[float, float]],
                     origin: str) -> list[float]:
    """Map raw scores onto [0, 1]; without a declared range they must already lie there."""
    scale = ScoreScale(*(score_range or (0.0, 1.0)), option="score_range")
    values = np.asarray(scores, dtype=np.float64)
    return scale.normalise(values, [f"score #{i + 1}" for i in range(len(values))], origin).tolist()


def label_columns(header: list[str], task: str, path: Path) -> dict[str, int]:
    """Indices of ``task``'s columns; a file that holds the other task's columns says so."""
    lowered = [cell.lower() for cell in header]
    missing = [c for c in COLUMNS[task] if c.lower() not in lowered]
    if not missing:
        return {c: lowered.index(c.lower()) for c in COLUMNS[task]}
    other = PERSONALITY if task == AESTHETIC else AESTHETIC
    error = TaskUnavailable if all(c.lower() in lowered for c in COLUMNS[other]) else DataError
    raise error(f"csv:{path}: missing column(s) {', '.join(missing)} for {task} data "
                f"(have: {', '.join(header)})")


@register_format("csv",
                 help="CSV with path,score (aesthetic) or path,O,C,E,A,N (personality), optional split")
def parse_csv(
    path: Path,
    task: str,
    score_range: RangeValue = None,
    trait_scale: str = "auto",
    check_files: bool = True,
) -> DatasetSource:
    if path.is_dir():
        raise DataError(f"csv:{path}: expected a CSV file, got a folder")
    rows = LabelRows(f"csv:{path}", task, check_files=check_files)
    with open_table(path) as (header, lines):
        columns = label_columns(header, task, path)
        split_column = next((i for i, cell in enumerate(header) if cell.lower() == "split"), None)
        for line, cells in lines:
            split = (cells[split_column].lower() or None) if split_column is not None else None
            rows.add(str(resolve_image(path.parent, cells[columns["path"]])),
                     [number(cells[columns[c]], path, line) for c in COLUMNS[task][1:]], split)
    return rows.source(scores=ScoreScale.declared(score_range), traits=trait_scale)
