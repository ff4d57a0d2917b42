"""``flickr-aes:ROOT`` — FLICKR-AES (Ren et al., ICCV 2017): 40k Flickr images rated 1..5 by 210 AMT workers.

Files: ``FLICKR-AES_image_score.txt`` (``<image> <score>``, whitespace-separated, names may start with a
space) and ``FLICKR-AES_image_labeled_by_each_worker.csv`` (header ``worker, imagePair, score`` with a
space after each comma). Images: ``40K/``. The target is the image score mapped from ``score_range``
(1..5) onto [0, 1]; each record's ``meta["ratings"]`` keeps its ``(worker, score)`` pairs, ready for the
personalised protocol (per-worker fine-tuning). There is no official split: the registry carves one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, Union

from ..errors import DataError
from .parsing import LabelRows, ScoreScale
from .records import DatasetSource, resolve_image
from .registry import register_format
from .tables import number, open_table, read_lines, require_columns

SCORE_FILE = "FLICKR-AES_image_score.txt"
WORKER_FILE = "FLICKR-AES_image_labeled_by_each_worker.csv"
IMAGE_DIRS = ("40K", "images", ".")


def read_image_scores(path: Path) -> dict[str, float]:
    scores: dict[str, float] = {}
    for line_number, line in read_lines(path):
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{path}:{line_number}: expected '<image> <score>', got {line!r}")
        scores[parts[0]] = number(parts[1], path, line_number)
    return scores


def read_worker_ratings(path: Path) -> dict[str, list[tuple[str, float]]]:
    """image -> [(worker, score)] of the per-worker CSV."""
    ratings: dict[str, list[tuple[str, float]]] = {}
    with open_table(path) as (header, rows):
        cols = require_columns(header, ("worker", "imagePair", "score"), path)
        for line, cells in rows:
            ratings.setdefault(cells[cols["imagePair"]], []).append(
                (cells[cols["worker"]], number(cells[cols["score"]], path, line)))
    return ratings


@register_format("flickr-aes", tasks=("aesthetic",),
                 help="FLICKR-AES: image score file + per-worker CSV + 40K/ images")
def parse_flickr_aes(path: Path, task: str, score_range: Union[str, Sequence[float], None] = "1,5",
                     images: str = "auto") -> DatasetSource:
    score_file, worker_file = path / SCORE_FILE, path / WORKER_FILE
    ratings = read_worker_ratings(worker_file) if worker_file.is_file() else {}
    if score_file.is_file():
        raw = read_image_scores(score_file)
    elif ratings:
        raw = {image: sum(s for _, s in pairs) / len(pairs) for image, pairs in ratings.items()}
    else:
        raise DataError(f"flickr-aes:{path}: neither {SCORE_FILE} nor {WORKER_FILE} found")
    image_dir = resolve_image(path, images) if images != "auto" else next(
        (path / d for d in IMAGE_DIRS if (path / d).is_dir()), path)
    rows = LabelRows(f"flickr-aes:{path}", task)
    for name in sorted(raw):
        rows.add(str(image_dir / name), raw[name], None,
                 {"ratings": tuple(ratings[name])} if name in ratings else None)
    info: dict[str, Any] = {"image_dir": str(image_dir), "score_file": score_file.is_file(),
                            "workers": len({w for pairs in ratings.values() for w, _ in pairs}),
                            "ratings": sum(len(pairs) for pairs in ratings.values())}
    return rows.source(scores=ScoreScale.declared(score_range), info=info)
