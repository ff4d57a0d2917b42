"""``para:ROOT`` — PARA (Yang et al., CVPR 2022): 31,220 images rated by 438 users of known personality.

Files (in ROOT or ``ROOT/annotation/``): ``PARA-UserInfo.csv`` (one row per user, BFI-10 traits 2..10 as
``personality-E,A,N,O,C``), ``PARA-Images.csv`` (one row per user and image: ``sessionId, imageName,
userId, aestheticScore`` 1..5 ...), and the GIAA tables ``PARA-Giaa{Train,Test}.csv`` (one row per
image with ``aestheticScore_mean``). Images: ``ROOT/imgs/<sessionId>/<imageName>``.

* Aesthetic source: mean aestheticScore mapped to [0, 1] by (x - 1) / 4, with the official GIAA split
  (from the per-user ratings, without a split, when the GIAA tables are absent).
* Personality source (beyond the paper, since PsychoFlickr is hard to obtain): an image's traits are
  the mean traits of the users who rated it at or above ``liked_threshold``, mapped by (x - 6) / 4;
  images nobody liked are reported as skipped, and so are raters missing from ``PARA-UserInfo.csv`` or
  with a NaN trait there. The GIAA split applies here too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from ..constants import TRAITS
from ..errors import DataError
from .parsing import LabelRows, ScoreScale, check_finite_columns
from .records import AESTHETIC, DatasetSource, Skip, TaskUnavailable, locate_file
from .registry import register_format
from .tables import column, number, open_table, read_table, require_columns
from .traits import trait_columns

USER_FILE = "PARA-UserInfo.csv"
RATINGS_FILE = "PARA-Images.csv"
GIAA_FILES = {"train": "PARA-GiaaTrain.csv", "test": "PARA-GiaaTest.csv"}
LABEL_DIRS = (".", "annotation", "annotations")
ImageKey = tuple[str, str]  # (sessionId, imageName)
#: aestheticScore is rated 1..5, mapped onto [0, 1] by (x - 1) / 4.
SCORE_SCALE = ScoreScale(1.0, 5.0)
Labels = tuple[dict[ImageKey, tuple[float, ...]], dict[ImageKey, dict[str, Any]]]  # raw labels, meta


def find_label_file(root: Path, name: str) -> Optional[Path]:
    return locate_file(root, "auto", [f"{folder}/{name}" for folder in LABEL_DIRS], f"para:{root}")


def read_giaa(path: Path) -> dict[ImageKey, tuple[float, Optional[float]]]:
    """(session, image) -> (mean, std) of aestheticScore from a GIAA table."""
    scores: dict[ImageKey, tuple[float, Optional[float]]] = {}
    with open_table(path) as (header, rows):
        cols = require_columns(header, ("sessionId", "imageName", "aestheticScore_mean"), path)
        std_col = column(header, ("aestheticScore_std",), path, required=False)
        for line, cells in rows:
            std = number(cells[std_col], path, line) if std_col is not None else None
            scores[(cells[cols["sessionId"]], cells[cols["imageName"]])] = (
                number(cells[cols["aestheticScore_mean"]], path, line), std)
    return scores


def read_user_traits(path: Path) -> dict[str, list[float]]:
    """userId -> raw O, C, E, A, N of ``PARA-UserInfo.csv``."""
    header, rows = read_table(path)
    user_col = column(header, ("userId",), path)
    trait_cols = trait_columns(header)
    if trait_cols is None:
        raise DataError(f"{path}: expected personality-O,C,E,A,N columns (header: {', '.join(header)})")
    return {cells[user_col]: [number(cells[i], path, line) for i in trait_cols] for line, cells in rows}


def iter_ratings(path: Path) -> Iterator[tuple[ImageKey, str, float]]:
    """``((session, image), userId, aestheticScore)`` of each row of ``PARA-Images.csv``, streamed."""
    with open_table(path) as (header, rows):
        cols = require_columns(header, ("sessionId", "imageName", "userId", "aestheticScore"), path)
        session, image, user, score = (cols[k] for k in ("sessionId", "imageName", "userId",
                                                         "aestheticScore"))
        for line, cells in rows:
            yield (cells[session], cells[image]), cells[user], number(cells[score], path, line)


def mean_ratings(path: Path) -> tuple[dict[ImageKey, float], dict[ImageKey, float]]:
    """Mean and standard deviation of each image's aestheticScore over its raters."""
    moments: dict[ImageKey, list[float]] = {}
    for key, _, score in iter_ratings(path):
        m = moments.setdefault(key, [0.0, 0.0, 0.0])
        m[0], m[1], m[2] = m[0] + 1, m[1] + score, m[2] + score * score
    means = {k: m[1] / m[0] for k, m in moments.items()}
    return means, {k: float(np.sqrt(max(m[2] / m[0] - means[k] ** 2, 0.0))) for k, m in moments.items()}


def check_scores(scores: dict[ImageKey, float], origin: Path) -> None:
    """aestheticScore means must lie in 1..5 (NaN ones are skipped where records are made)."""
    values = np.asarray(list(scores.values()), dtype=np.float64)
    SCORE_SCALE.normalise(values[np.isfinite(values)], [f"{k[0]}/{k[1]}" for k, v in scores.items()
                                                        if np.isfinite(v)], str(origin))


def aesthetic_labels(path: Path, giaa: dict[str, dict], ratings_file: Optional[Path]) -> Labels:
    """Raw mean aestheticScore of each image, from the GIAA tables or else from the per-user ratings."""
    if giaa:
        means = {key: mean for table in giaa.values() for key, (mean, _) in table.items()}
        stds = {key: std for table in giaa.values() for key, (_, std) in table.items()}
    elif ratings_file:
        means, stds = mean_ratings(ratings_file)
    else:
        raise DataError(f"para:{path}: neither {' / '.join(GIAA_FILES.values())} nor {RATINGS_FILE} found")
    return ({key: (mean,) for key, mean in means.items()},
            {key: {"mean": means[key], "std": stds[key]} for key in means})


def personality_files(path: Path, ratings_file: Optional[Path]) -> tuple[Path, Path]:
    """``PARA-UserInfo.csv`` and ``PARA-Images.csv``, which personality labels need both of."""
    user_file = find_label_file(path, USER_FILE)
    if user_file is None or ratings_file is None:
        raise TaskUnavailable(f"para:{path}: personality labels need {USER_FILE} and {RATINGS_FILE}")
    return user_file, ratings_file


def rater_traits(user_file: Path, skipped: list[Skip]) -> dict[str, Optional[np.ndarray]]:
    """userId -> raw traits of each rater in ``PARA-UserInfo.csv``; None (and a skip) for a NaN trait."""
    users = {user: np.asarray(values, dtype=np.float64)
             for user, values in read_user_traits(user_file).items()}
    check_finite_columns(np.asarray(list(users.values())), [f"personality-{t}" for t in TRAITS],
                         str(user_file))
    broken = sorted(user for user, values in users.items() if not np.isfinite(values).all())
    skipped += [Skip(user, f"rater with NaN or infinite traits in {USER_FILE}") for user in broken]
    return {user: None if user in broken else values for user, values in users.items()}


def liker_labels(ratings_file: Path, user_traits: dict[str, Optional[np.ndarray]], liked_threshold: float,
                 image_root: Path, skipped: list[Skip]) -> Labels:
    """Mean raw traits of the raters who liked each image (aestheticScore >= ``liked_threshold``)."""
    threshold = float(liked_threshold)
    if not 1 <= threshold <= 5:
        raise DataError(f"para: liked_threshold must lie in 1..5 (aestheticScore), not {liked_threshold!r}")
    unknown_users: set[str] = set()
    liked_sum: dict[ImageKey, np.ndarray] = {}
    likers: dict[ImageKey, int] = {}
    for key, user, score in iter_ratings(ratings_file):
        likers.setdefault(key, 0)
        traits = user_traits.get(user)
        if user not in user_traits:
            unknown_users.add(user)
        elif traits is not None and score >= threshold:
            liked_sum[key] = liked_sum.get(key, 0) + traits
            likers[key] += 1
    skipped += [Skip(str(image_root / k[0] / k[1]), "no rater at or above liked_threshold")
                for k in sorted(likers) if not likers[k]]
    skipped += [Skip(user, f"rater missing from {USER_FILE}") for user in sorted(unknown_users)]
    return ({k: tuple((liked_sum[k] / likers[k]).tolist()) for k in liked_sum},
            {k: {"likers": likers[k]} for k in liked_sum})


@register_format("para", help="PARA: PARA-UserInfo/Images/Giaa*.csv + imgs/<session>/<image>")
def parse_para(path: Path, task: str, liked_threshold: float = 4.0, trait_scale: str = "bfi10",
               images: str = "imgs") -> DatasetSource:
    giaa = {split: read_giaa(f) for split, name in GIAA_FILES.items() if (f := find_label_file(path, name))}
    split_of = {key: split for split, table in giaa.items() for key in table}
    for key in giaa.get("train", {}).keys() & giaa.get("test", {}).keys():
        split_of[key] = "test"  # an image in both GIAA tables is evaluated, never trained on
    ratings_file = find_label_file(path, RATINGS_FILE)
    info: dict[str, Any] = {"giaa_split": sorted(giaa),
                            "ratings_file": str(ratings_file) if ratings_file else None}
    image_root = path / images
    rows = LabelRows(f"para:{path}", task)
    if task == AESTHETIC:
        targets, metas = aesthetic_labels(path, giaa, ratings_file)
    else:
        user_file, ratings_file = personality_files(path, ratings_file)
        user_traits = rater_traits(user_file, rows.skipped)
        targets, metas = liker_labels(ratings_file, user_traits, liked_threshold, image_root, rows.skipped)
        info.update(liked_threshold=float(liked_threshold), users=len(user_traits))
    for key in sorted(targets):
        rows.add(str(image_root / key[0] / key[1]), targets[key], split_of.get(key), metas[key])
    return rows.source(scores=SCORE_SCALE, traits=trait_scale, info=info)
