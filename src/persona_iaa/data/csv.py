"""``csv:FILE`` — the escape hatch for any collection.

Aesthetic CSVs have ``path,score``; personality CSVs ``path,O,C,E,A,N`` (column order free). An optional
``split`` column holds train/val/test. Relative paths resolve against the CSV's folder. Scores already in
[0, 1] are used as they are; declare ``score_range=LOW,HIGH`` for raw scales (1..10, 1..5).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional, Sequence, Union

from ..constants import TRAITS
from ..errors import DataError
from .records import AESTHETIC, DatasetSource, Record, Skip, resolve_image
from .registry import register_format
from .traits import normalise_traits


def parse_score_range(score_range: Union[str, Sequence[float], None]) -> Optional[tuple[float, float]]:
    if score_range is None:
        return None
    parts = score_range.split(",") if isinstance(score_range, str) else list(score_range)
    if len(parts) != 2:
        raise DataError(f"score_range must be LOW,HIGH, got {score_range!r}")
    low, high = (float(p) for p in parts)
    if high <= low:
        raise DataError(f"score_range must have LOW < HIGH, got {score_range!r}")
    return low, high


def normalise_scores(scores: Sequence[float], score_range: Optional[tuple[float, float]], origin: str) -> list[float]:
    """Map raw scores onto [0, 1]; without a declared range they must already lie there."""
    if score_range is not None:
        low, high = score_range
        scores = [(s - low) / (high - low) for s in scores]
    bad = [s for s in scores if not 0.0 <= s <= 1.0]
    if bad:
        raise DataError(
            f"{origin}: scores must lie in [0, 1] after normalisation (saw {min(scores):g}..{max(scores):g}); "
            "declare the raw scale with score_range=LOW,HIGH"
        )
    return list(scores)


@register_format("csv", help="CSV with path,score (aesthetic) or path,O,C,E,A,N (personality), optional split")
def parse_csv(
    path: Path,
    task: str,
    score_range: Union[str, Sequence[float], None] = None,
    trait_scale: str = "auto",
    check_files: bool = True,
) -> DatasetSource:
    if path.is_dir():
        raise DataError(f"csv:{path}: expected a CSV file, got a folder")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        fields = [f.strip() for f in reader.fieldnames or []]
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    wanted = ("path", "score") if task == AESTHETIC else ("path", *TRAITS)
    missing = [c for c in wanted if c not in fields]
    if missing:
        raise DataError(f"csv:{path}: missing column(s) {', '.join(missing)} for {task} data (have: {', '.join(fields)})")
    root = path.parent
    kept, skipped = [], []
    for line, row in enumerate(rows, start=2):
        image = resolve_image(root, row["path"])
        if check_files and not image.is_file():
            skipped.append(Skip(str(image), "image file missing"))
            continue
        try:
            values = [float(row[c]) for c in wanted[1:]]
        except ValueError:
            raise DataError(f"csv:{path} line {line}: non-numeric label in {row}") from None
        split = row.get("split") or None
        kept.append((str(image), values, split.lower() if split else None))
    if task == AESTHETIC:
        targets = [(s,) for s in normalise_scores([v[0] for _, v, _ in kept], parse_score_range(score_range), f"csv:{path}")]
    else:
        targets = [tuple(float(x) for x in row) for row in normalise_traits([v for _, v, _ in kept], trait_scale)] if kept else []
    records = [Record(p, t, split) for (p, _, split), t in zip(kept, targets)]
    return DatasetSource(spec=f"csv:{path}", task=task, records=records, skipped=skipped)
