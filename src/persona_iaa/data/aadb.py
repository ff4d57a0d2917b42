"""``aadb:ROOT`` — the AADB release (Kong et al., ECCV 2016) as distributed.

Labels: ``imgListFiles_label/imgList{Train,Validation,Test,TestNew}Regression_<label>.txt`` (some zips
nest the folder twice), lines ``<image_name> <value>``; ``score`` is already in [0, 1] and the 11
attributes (release spelling, ``BalacingElements`` included) in [-1, 1] go to ``meta["attributes"]``.
The official ``AADBinfo.mat`` (train 8,458 / test 1,000 names and scores) is the alternative source.

Images: ``datasetImages_originalSize/``, ``datasetImages_warp256/``, and the new test set's
``AADB_newtest_originalSize/`` or older ``AADB_newtest/``, whose file names carry the score as a prefix
(``0.500_farm1_...``); names match with that prefix stripped. Default split (the authors' advice):
train = Train + Validation minus anything also in the test list (a derived copy puts every TestNew
image in Train), test = TestNew when present, else Test; validation is carved from train.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import DataError
from .parsing import LabelRows, ScoreScale
from .records import DatasetSource, FileIndex, locate_file
from .registry import register_format
from .tables import read_lines

LABEL_DIR = "imgListFiles_label"
MAT_FILE = "AADBinfo.mat"
ATTRIBUTES = ("BalacingElements", "ColorHarmony", "Content", "DoF", "Light", "MotionBlur", "Object",
              "Repetition", "RuleOfThirds", "Symmetry", "VividColor")
#: File-name spellings of an attribute: the release's, then the corrected one some re-packaged copies use.
ATTRIBUTE_FILE_NAMES = {name: (name,) for name in ATTRIBUTES} | {"BalacingElements": ("BalacingElements",
                                                                                      "BalancingElements")}
IMAGE_DIRS = ("datasetImages_originalSize", "AADB_newtest_originalSize", "datasetImages_warp256",
              "AADB_newtest")
SCORE_PREFIX = re.compile(r"^\d\.\d{3}_")


def plain_name(name: str) -> str:
    """An image name without ``AADB_newtest``'s score prefix."""
    return SCORE_PREFIX.sub("", name, count=1)


def read_list_file(path: Path) -> list[tuple[str, float]]:
    """``<name> <float>`` per line; names may contain spaces, so split on the last space."""
    entries = []
    for number, line in read_lines(path):
        try:
            name, value = line.rsplit(maxsplit=1)
            entries.append((name, float(value)))
        except ValueError:
            raise DataError(f"{path}:{number}: expected '<image_name> <number>', got {line!r}") from None
    return entries


def list_file(labels: Path, part: str, label: str = "score") -> Optional[Path]:
    for spelling in ATTRIBUTE_FILE_NAMES.get(label, (label,)):
        path = labels / f"imgList{part}Regression_{spelling}.txt"
        if path.is_file():
            return path
    return None


def find_label_dir(root: Path) -> Optional[Path]:
    for candidate in (root / LABEL_DIR / LABEL_DIR, root / LABEL_DIR, root):
        if list_file(candidate, "Train"):
            return candidate
    return None


def read_aadbinfo(path: Path) -> dict[str, list[tuple[str, float]]]:
    """``AADBinfo.mat``: ``{"train": [(name, score)], "test": [...]}`` from its name-list cells and scores."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except (ValueError, OSError, TypeError) as exc:
        raise DataError(f"{path}: not a readable MAT file ({exc})") from None
    parts = {}
    for part in ("train", "test"):
        try:
            names = [str(np.ravel(cell)[0]) for cell in np.ravel(mat[f"{part}NameList"])]
            scores = np.ravel(mat[f"{part}Score"]).astype(float).tolist()
        except (KeyError, IndexError):
            raise DataError(f"{path}: expected {part}NameList and {part}Score "
                            "(the official AADBinfo.mat)") from None
        if len(names) != len(scores):
            raise DataError(f"{path}: {part}NameList has {len(names)} names but {part}Score "
                            f"{len(scores)} scores")
        parts[part] = list(zip(names, scores))
    return parts


def image_index(root: Path, folders: tuple[str, ...]) -> dict[str, str]:
    """Plain image name -> path, one listing per folder; earlier folders win."""
    index: dict[str, str] = {}
    files = FileIndex()
    for folder in folders:
        for name in sorted(files.names(root / folder)):
            index.setdefault(plain_name(name), str(root / folder / name))
    return index


def read_attributes(labels: Path, parts: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Plain image name -> {attribute: value} over the given parts' attribute lists that exist."""
    attributes: dict[str, dict[str, float]] = {}
    for attribute in ATTRIBUTES:
        for part in parts:
            path = list_file(labels, part, attribute)
            for name, value in read_list_file(path) if path else ():
                attributes.setdefault(plain_name(name), {})[attribute] = value
    return attributes


Entries = dict[str, list[tuple[str, float]]]  # split -> [(image name, score)]
#: An image listed twice keeps its most held-out split: train yields to test and val, val to test.
HELD_OUT_FROM: dict[str, tuple[str, ...]] = {"train": ("test", "val"), "val": ("test",), "test": ()}


def read_lists(root: Path, label_dir: Optional[Path], test_list: str, val_list: str = "none"
               ) -> tuple[Entries, dict, dict[str, Any]]:
    """Train/test (and, with ``val_list``, validation) entries, attributes and info from the
    ``imgListFiles_label`` lists. Without ``val_list`` the Validation list joins Train, and the run's
    split policy carves validation from it (``data.val_fraction``)."""
    if label_dir is None:
        raise DataError(f"aadb:{root}: no {LABEL_DIR}/imgListTrainRegression_score.txt under {root}")
    if test_list == "auto":
        test_list = "TestNew" if list_file(label_dir, "TestNew") else "Test"
    test_file = list_file(label_dir, test_list)
    if test_file is None:
        raise DataError(f"aadb:{root}: test list imgList{test_list}Regression_score.txt not found in "
                        f"{label_dir}")
    train_parts = [part for part in ("Train", "Validation") if part != val_list]
    train_files = [f for f in (list_file(label_dir, part) for part in train_parts) if f]
    entries = {"train": [entry for f in train_files for entry in read_list_file(f)],
               "test": read_list_file(test_file)}
    if val_list != "none":
        val_file = list_file(label_dir, val_list)
        if val_file is None:
            raise DataError(f"aadb:{root}: validation list imgList{val_list}Regression_score.txt not "
                            f"found in {label_dir}")
        entries["val"] = read_list_file(val_file)
    attributes = read_attributes(label_dir, ("Train", "Validation", test_list))
    info = {"label_dir": str(label_dir), "test_list": test_list, "val_list": val_list,
            "attributes": sorted({a for values in attributes.values() for a in values})}
    return entries, attributes, info


def read_labels(root: Path, labels: str, test_list: str, val_list: str = "none"
                ) -> tuple[Entries, dict, dict[str, Any]]:
    """Entries, attributes and info from the lists or from ``AADBinfo.mat`` (``labels``: auto, lists, mat)."""
    label_dir = find_label_dir(root)
    if labels == "auto":
        labels = "lists" if label_dir else "mat"
    if labels == "lists":
        entries, attributes, info = read_lists(root, label_dir, test_list, val_list)
        return entries, attributes, {"labels": labels, **info}
    if labels != "mat":
        raise DataError(f"aadb: labels must be auto, lists or mat, not {labels!r}")
    if val_list != "none":
        raise DataError("aadb: val_list needs the imgListFiles_label lists; AADBinfo.mat has no "
                        "validation list")
    mat_file = locate_file(root, "auto", (MAT_FILE, f"{LABEL_DIR}/{MAT_FILE}"), f"aadb:{root}")
    if mat_file is None:
        raise DataError(f"aadb:{root}: neither {LABEL_DIR}/ lists nor {MAT_FILE} found under {root}")
    return read_aadbinfo(mat_file), {}, {"labels": labels, "label_file": str(mat_file)}


@register_format("aadb", tasks=("aesthetic",),
                 help="AADB release: imgListFiles_label/ lists or AADBinfo.mat + image folders")
def parse_aadb(path: Path, task: str, test_list: str = "auto", images: str = "auto",
               labels: str = "auto", val_list: str = "none") -> DatasetSource:
    """``test_list``: TestNew (the default where present) or Test; ``val_list=Validation``: validate on
    the released Validation list (otherwise it joins Train)."""
    entries, attributes, info = read_labels(path, labels, test_list, val_list)
    folders = IMAGE_DIRS if images == "auto" else tuple(f.strip() for f in images.split(","))
    images_by_name = image_index(path, folders)
    info["image_dirs"] = [f for f in folders if (path / f).is_dir()]
    held_out = {split: {plain_name(name) for name, _ in entries.get(split, [])} for split in ("val", "test")}
    rows = LabelRows(f"aadb:{path}", task)
    for split in [s for s in ("train", "val", "test") if s in entries]:
        seen: set[str] = set()
        for name, score in entries[split]:
            key = plain_name(name)
            clash = next((other for other in HELD_OUT_FROM[split] if key in held_out[other]), None)
            if key in seen:
                rows.skip(name, "duplicate entry in the label lists")
            elif clash is not None:
                rows.skip(name, f"{split} image also in the {clash} list (dropped from {split})")
            else:
                # A name no image folder holds is reported by its name (a path would name one folder of
                # several).
                rows.add(images_by_name.get(key, name), (score,), split,
                         {"attributes": attributes[key]} if key in attributes else None,
                         exists=key in images_by_name)
            seen.add(key)
    return rows.source(scores=ScoreScale(0.0, 1.0), info=info)
