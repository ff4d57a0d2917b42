"""``aadb:ROOT`` — the AADB release (Kong et al., ECCV 2016) as distributed.

Labels: ``imgListFiles_label/imgList{Train,Validation,Test,TestNew}Regression_score.txt`` with lines
``<image_name> <score>`` (score already in [0, 1]). Images: ``datasetImages_originalSize/`` or
``datasetImages_warp256/``. Default split (the authors' advice): train = Train + Validation minus anything
also in the test list; test = TestNew when present, else Test; validation is carved from train.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..errors import DataError
from .records import DatasetSource, Record, Skip
from .registry import register_format

LABEL_DIR = "imgListFiles_label"
IMAGE_DIRS = ("datasetImages_originalSize", "datasetImages_warp256")


def read_list_file(path: Path) -> list[tuple[str, float]]:
    """``<name> <float>`` per line; names may contain spaces, so split on the last space."""
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            name, value = line.strip().rsplit(maxsplit=1)
            entries.append((name, float(value)))
        except ValueError:
            raise DataError(f"{path}:{number}: expected '<image_name> <number>', got {line!r}") from None
    return entries


def find_label_dir(root: Path) -> Path:
    for candidate in (root / LABEL_DIR / LABEL_DIR, root / LABEL_DIR, root):
        if (candidate / "imgListTrainRegression_score.txt").is_file():
            return candidate
    raise DataError(f"aadb:{root}: no {LABEL_DIR}/imgListTrainRegression_score.txt under {root}")


def find_image(root: Path, name: str, image_dirs: tuple[str, ...]) -> Optional[Path]:
    for folder in image_dirs:
        candidate = root / folder / name
        if candidate.is_file():
            return candidate
    return None


@register_format("aadb", tasks=("aesthetic",), help="AADB release: imgListFiles_label/ lists + image folders")
def parse_aadb(path: Path, task: str, test_list: str = "auto", images: str = "auto") -> DatasetSource:
    labels = find_label_dir(path)
    image_dirs = IMAGE_DIRS if images == "auto" else (images,)
    if test_list == "auto":
        test_list = "TestNew" if (labels / "imgListTestNewRegression_score.txt").is_file() else "Test"
    test_file = labels / f"imgList{test_list}Regression_score.txt"
    if not test_file.is_file():
        raise DataError(f"aadb:{path}: test list {test_file.name} not found")
    test_entries = read_list_file(test_file)
    test_names = {name for name, _ in test_entries}
    train_entries: list[tuple[str, float]] = []
    for part in ("Train", "Validation"):
        list_file = labels / f"imgList{part}Regression_score.txt"
        if list_file.is_file():
            train_entries += read_list_file(list_file)
    records: list[Record] = []
    skipped: list[Skip] = []
    for split, entries in (("train", train_entries), ("test", test_entries)):
        for name, score in entries:
            if split == "train" and name in test_names:
                skipped.append(Skip(name, "train image also in the test list"))
                continue
            image = find_image(path, name, image_dirs)
            if image is None:
                skipped.append(Skip(name, "image file missing"))
                continue
            records.append(Record(str(image), (score,), split))
    return DatasetSource(spec=f"aadb:{path}", task=task, records=records, skipped=skipped,
                         info={"test_list": test_list})
