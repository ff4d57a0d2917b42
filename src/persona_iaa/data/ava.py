"""``ava:ROOT`` — AVA (Murray et al., CVPR 2012), the June 2012 release as distributed.

Labels: ``AVA.txt``, 255,530 rows of 15 integers (index, image id, vote counts for scores 1..10, two
tag ids, challenge id), or the CSV that some mirrors ship (``path,score,score 1..score 10``). Images:
``images/<id>.jpg``. The target is the mean vote / 10; each record's ``meta`` keeps the vote counts
(``votes``) and their standard deviation (``std``); the mean is ``10 * target``.

Standard split (RAPID, DMA-Net, NIMA, PA-IAA): test = ids of ``aesthetics_image_lists/generic_test.jpgl``
present in the labels and on disk, train = every other id; validation is carved from train by the
registry. Ids missing on disk, publicly known corrupt ids and rows with a negative vote count are skipped
and reported, never a crash.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..errors import DataError
from .parsing import LabelRows, ScoreScale
from .records import DatasetSource, locate_file, resolve_image
from .registry import register_format
from .tables import ENCODING, column, not_utf8, open_table, read_lines

LABEL_FILES = ("AVA.txt", "AVA_dataset/AVA.txt", "AVA.csv", "AVA_dataset/AVA.csv")
IMAGE_DIRS = ("images", "AVA_dataset/images", "image")
LIST_DIR = "aesthetics_image_lists"
SCORES = np.arange(1, 11, dtype=np.float64)
#: The target is the mean vote / 10 (the convention of the AVA literature), so the raw scale is 0..10.
TARGET_SCALE = ScoreScale(0.0, 10.0)

#: Ids reported unreadable by public loaders: lizhaoliu-Lec/ImageAestheticAssessmentPyTorch
#: (CORRUPTED_IMAGE_IDS) and a second public loader's list (the last seven).
KNOWN_CORRUPT_IDS: frozenset[str] = frozenset(
    "512522 627334 523555 593733 230701 564093 501015 371434 440774 501064 453704 2129 179118 1617 "
    "476416 570175 547917 502377 499068 564307 729377 639811 532055 501095 277832 556798 "
    "2113 2878 770406 2761 3101 3937".split()
)

#: CSV vote-count headers: ``score 1`` .. ``score 10`` (also ``score1``, ``score_1``, ``vote_1``,
#: ``count_rating_1``).
VOTE_HEADER = re.compile(r"^(?:score|vote|votes|count|count_rating|rating)[ _]?(\d{1,2})$", re.IGNORECASE)


def find_label_file(root: Path, labels: str) -> Path:
    if root.is_file():
        return root
    found = locate_file(root, labels, LABEL_FILES, f"ava:{root}")
    if found is None:
        raise DataError(f"ava:{root}: no AVA.txt (or AVA.csv) under {root}")
    return found


def read_ava_txt(path: Path) -> tuple[list[str], np.ndarray]:
    """Image ids and the (n, 10) vote counts of ``AVA.txt`` (columns 3..12; a common bug takes 9)."""
    try:
        table = np.loadtxt(path, dtype=np.int64, ndmin=2, encoding=ENCODING)
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    except ValueError as exc:
        raise DataError(f"{path}: not AVA.txt's rows of 15 integers ({str(exc).splitlines()[0]})") from None
    if table.size == 0:
        raise DataError(f"{path}: no rows")
    if table.shape[1] != 15:
        raise DataError(f"{path}: rows have {table.shape[1]} columns, AVA.txt has 15 "
                        "(index, image id, 10 vote counts, 2 tags, challenge)")
    return [str(i) for i in table[:, 1].tolist()], table[:, 2:12]


def read_ava_csv(path: Path) -> tuple[list[str], Optional[np.ndarray], np.ndarray]:
    """References, vote counts (None when the CSV has only a mean) and mean scores of the CSV variant."""
    with open_table(path) as (header, rows):
        ref_col = column(header, ("path", "image", "image_id", "id", "image_name", "filename"), path)
        vote_cols = {int(m.group(1)): i for i, h in enumerate(header) if (m := VOTE_HEADER.match(h))}
        if vote_cols and sorted(vote_cols) != list(range(1, 11)):
            raise DataError(f"{path}: vote columns must be score 1 .. score 10, found {sorted(vote_cols)}")
        wanted = ([vote_cols[k] for k in range(1, 11)] if vote_cols
                  else [column(header, ("score", "mean", "mos"), path)])
        refs, values = [], []
        for line, cells in rows:
            try:
                values.append([float(cells[i]) for i in wanted])
            except (ValueError, IndexError):
                raise DataError(f"{path}:{line}: expected numeric votes or score, "
                                f"got {','.join(cells)!r}") from None
            refs.append(cells[ref_col])
    table = np.asarray(values, dtype=np.float64).reshape(-1, len(wanted))
    if vote_cols:
        votes = table.astype(np.int64) if np.array_equal(table, np.round(table)) else table
        return refs, votes, vote_mean_std(votes)[0]
    means = table[:, 0]
    finite = means[np.isfinite(means)]  # NaN means are skipped as such later
    if finite.size and (finite.min() < 1 or finite.max() > 10):
        raise DataError(f"{path}: score must be AVA's mean vote in 1..10 "
                        f"(saw {finite.min():g}..{finite.max():g})")
    return refs, None, means


def vote_mean_std(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard deviation of each row's score distribution, and its total (0 = no votes)."""
    total = votes.sum(axis=1)
    safe = np.where(total > 0, total, 1)
    mean = votes @ SCORES / safe
    std = np.sqrt(np.clip(votes @ SCORES**2 / safe - mean**2, 0, None))
    return mean, std, total


def read_id_list(path: Path) -> set[str]:
    """A ``.jpgl`` list: one image id per line."""
    return {line for _, line in read_lines(path)}


def find_test_list(label_file: Path, root: Path, test_list: str) -> Optional[Path]:
    if test_list == "none":
        return None
    name = "generic_test" if test_list == "auto" else test_list
    candidates = []
    for folder in dict.fromkeys([label_file.parent, root]):
        candidates += [folder / LIST_DIR / f"{name}.jpgl", folder / name]  # a list name, or a file path
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if test_list == "auto":
        return None
    raise DataError(f"ava: test list {name!r} not found (looked for {LIST_DIR}/{name}.jpgl)")


def find_image_dir(base: Path, images: str) -> Path:
    if images != "auto":
        return resolve_image(base, images)
    for candidate in IMAGE_DIRS:
        if (base / candidate).is_dir():
            return base / candidate
    return base / IMAGE_DIRS[0]


def image_path(ref: str, base: str, image_dir: str) -> str:
    """A label reference as a path: a bare id is ``<id>.jpg``; bare names live in the image folder.

    String operations, not pathlib: this runs once per AVA row (255k times).
    """
    if ref.isdigit():
        return f"{image_dir}{os.sep}{ref}.jpg"
    if "/" not in ref and "\\" not in ref:
        return os.path.join(image_dir, ref if os.path.splitext(ref)[1] else f"{ref}.jpg")
    return os.path.join(base, ref)


def read_labels(label_file: Path) -> tuple[list[str], list, list, list, list, list]:
    """Per row of either label file: reference, vote counts (None for a mean-only CSV), mean, std,
    total votes, and why a row's vote counts are unusable (None when they are non-negative integers)."""
    if label_file.suffix.lower() == ".csv":
        refs, votes, means = read_ava_csv(label_file)
    else:
        refs, votes = read_ava_txt(label_file)
    if votes is None:
        none = [None] * len(refs)
        return refs, none, means.tolist(), none, [1] * len(refs), none
    mean, std, total = (values.tolist() for values in vote_mean_std(votes))
    negative, fractional = np.any(votes < 0, axis=1), np.any(votes != np.round(votes), axis=1)
    problems = [("negative vote count" if neg else "fractional vote count" if frac else None)
                for neg, frac in zip(negative.tolist(), fractional.tolist())]
    return refs, votes.tolist(), mean, std, total, problems


@register_format("ava", tasks=("aesthetic",),
                 help="AVA: AVA.txt (or a mirror's CSV) + images/<id>.jpg, standard split")
def parse_ava(path: Path, task: str, labels: str = "auto", images: str = "auto", test_list: str = "auto",
              skip_known_corrupt: Union[bool, str] = True) -> DatasetSource:
    label_file = find_label_file(path, labels)
    base = path if path.is_dir() else label_file.parent
    refs, vote_rows, mean, std, total, vote_problems = read_labels(label_file)
    image_dir = find_image_dir(base, images)
    test_file = find_test_list(label_file, base, test_list)
    test_ids = read_id_list(test_file) if test_file else set()
    keep_corrupt = str(skip_known_corrupt).lower() in ("false", "0", "no")
    corrupt = frozenset() if keep_corrupt else KNOWN_CORRUPT_IDS
    rows = LabelRows(f"ava:{path}", task)
    seen: set[str] = set()
    for row, (ref, row_mean, row_total, vote_problem) in enumerate(zip(refs, mean, total, vote_problems)):
        image = image_path(ref, str(base), str(image_dir))
        image_id = ref if ref.isdigit() else os.path.splitext(os.path.basename(ref))[0]
        if image_id in seen:
            rows.skip(image, "duplicate id in the label file")
        elif image_id in corrupt:
            rows.skip(image, "known corrupt image (public list)")
        elif vote_problem:  # counts are non-negative integers; anything else is a corrupt row
            rows.skip(image, vote_problem)
        elif row_total <= 0:
            rows.skip(image, "no votes")
        else:
            split = ("test" if image_id in test_ids else "train") if test_file else None
            rows.add(image, row_mean, split, row)
        seen.add(image_id)
    info = {"label_file": str(label_file), "rows": len(refs), "image_dir": str(image_dir),
            "test_list": str(test_file) if test_file else None, "test_list_ids": len(test_ids),
            "test_list_ids_not_in_labels": len(test_ids - seen)}

    def vote_meta(row: int) -> Optional[dict]:  # built for kept records only (AVA.txt has 255k rows)
        return {"votes": tuple(vote_rows[row]), "std": std[row]} if vote_rows[row] is not None else None

    return rows.source(scores=TARGET_SCALE, info=info, make_meta=vote_meta)
