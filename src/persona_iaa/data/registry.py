"""`FORMAT:PATH` dataset arguments: formats register a parser; split handling lives here, once.

A format parser only turns files into :class:`Record` lists (with the distribution's own split where it
has one). :func:`split_records` then applies the one split policy for every format: keep the
distribution's train/val/test, carve a seeded validation slice from train when there is none, and carve
test too when the distribution has no split at all.
"""
from __future__ import annotations

import dataclasses
import inspect
import logging
import random
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from ..errors import DataError
from ..registry import Registry
from .records import SPLITS, TASKS, DatasetSource, Record, TaskUnavailable

FormatParser = Callable[..., DatasetSource]
logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DatasetFormat:
    """A registered ``FORMAT:`` prefix: its parser, the tasks it labels and its one-line help."""

    name: str
    parser: FormatParser
    tasks: tuple[str, ...]
    help: str


#: Every dataset format by its prefix (``ava``, ``csv``...); a second format under a taken name is refused.
FORMATS: Registry[DatasetFormat] = Registry("dataset format")


def register_format(name: str, *, tasks: tuple[str, ...] = TASKS, help: str = "") -> Callable:
    """Decorator: ``@register_format("aadb", tasks=("aesthetic",))`` over ``parse(path, task, **options)``."""

    def decorate(parser: FormatParser) -> FormatParser:
        first_line = (parser.__doc__ or "").strip().split("\n")[0]
        FORMATS.add(name, DatasetFormat(name, parser, tasks, help or first_line))
        return parser

    return decorate


def available_formats() -> dict[str, str]:
    _import_builtin_formats()
    return {name: FORMATS.get(name).help for name in sorted(FORMATS)}


def get_format(name: str) -> DatasetFormat:
    """The registered format ``name``; an unknown one is a :class:`DataError` listing the formats."""
    _import_builtin_formats()
    return FORMATS.get(name, DataError)


#: Modules under persona_iaa.data that register formats when imported.
BUILTIN_FORMAT_MODULES: tuple[str, ...] = ("csv", "ava", "aadb", "psychoflickr", "para", "flickr_aes",
                                           "cache")

#: The file that marks a prepared cache (see :mod:`persona_iaa.data.cache`). A cache given as the PATH of
#: the format it was prepared from (``ava:/fast/ava256``) is read as ``cache:``, so training needs no change.
PREPARED_CACHE_MANIFEST = "persona-iaa-cache.json"


def _import_builtin_formats() -> None:
    import importlib

    for module in BUILTIN_FORMAT_MODULES:
        importlib.import_module(f"{__package__}.{module}")


def parse_spec(spec: str) -> tuple[str, Path]:
    """Split ``FORMAT:PATH``; a bare existing ``.csv`` path means ``csv:``."""
    _import_builtin_formats()
    name, sep, path = spec.partition(":")
    if not sep or not path:
        if spec.lower().endswith(".csv"):
            return "csv", Path(spec)
        raise DataError(f"dataset argument {spec!r} is not FORMAT:PATH; "
                        f"formats: {', '.join(sorted(FORMATS))}")
    get_format(name)
    return name, Path(path).expanduser()


def format_tasks(name: str) -> tuple[str, ...]:
    """The tasks (aesthetic, personality) a registered format provides labels for."""
    return get_format(name).tasks


def format_options(name: str) -> dict[str, Any]:
    """A format's options and their defaults (the keyword arguments of its parser)."""
    parameters = list(inspect.signature(get_format(name).parser).parameters.values())[2:]
    return {p.name: p.default for p in parameters
            if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}


def _check_options(name: str, options: Mapping[str, Any]) -> None:
    parameters = inspect.signature(get_format(name).parser).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    known = format_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise DataError(f"format {name!r} has no option {', '.join(map(repr, unknown))}; "
                        f"its options: {', '.join(known) or 'none'}")


def load_source(spec: str, task: str, options: Optional[Mapping[str, Any]] = None) -> DatasetSource:
    """Parse a dataset argument for one task (``aesthetic`` or ``personality``)."""
    name, path = parse_spec(spec)
    options = dict(options or {})
    if name != "cache" and (path / PREPARED_CACHE_MANIFEST).is_file():
        source = load_source(f"cache:{path}", task, options)
        if source.info["source_format"] != name:
            raise DataError(f"{spec}: {path} is a prepared cache of {source.info['source_format']}: data, "
                            f"not {name}:")
        return source
    fmt = get_format(name)
    if task not in fmt.tasks:
        raise TaskUnavailable(f"format {name!r} provides {' and '.join(fmt.tasks)} labels, not {task} labels")
    if not path.exists():
        raise DataError(f"{spec}: {path} does not exist")
    _check_options(name, options)
    source = fmt.parser(path, task, **options)
    logger.debug("%s: %d %s records, %d skipped", spec, len(source.records), task, len(source.skipped))
    if not source.records:
        reasons = "; ".join(f"{r}: {d['count']:,}" for r, d in source.skip_summary().items())
        raise DataError(f"{spec}: no usable {task} records found under {path}"
                        + (f" (skipped {len(source.skipped):,}: {reasons})" if reasons else ""))
    return source


def _group(record: Record) -> tuple[str, str]:
    # Every image of a PsychoFlickr user carries that user's traits: splitting a user's images across
    # train and test would leak the test targets, so records with a user move between splits together.
    user = (record.meta or {}).get("user")
    return ("user", str(user)) if user is not None else ("path", record.path)


def _carve(records: list[Record], amount: int, rng: random.Random) -> tuple[list[Record], list[Record]]:
    """A seeded random selection of about ``amount`` records, whole groups at a time, and the rest
    (both in their original order)."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        groups.setdefault(_group(record), []).append(record)
    keys = sorted(groups)
    rng.shuffle(keys)
    chosen: set[tuple[str, str]] = set()
    taken = 0
    for key in keys:
        if taken >= amount:
            break
        chosen.add(key)
        taken += len(groups[key])
    carved = [r for r in records if _group(r) in chosen]
    return carved, [r for r in records if _group(r) not in chosen]


def split_records(
    records: list[Record], *, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> dict[str, list[Record]]:
    """The one split policy (see module docstring). Deterministic for a given seed.

    ``val_fraction`` below 1 is a share of train, 1 or more an image count (AVA's usual 2,000-image slice).
    Records of one user (``meta["user"]``, as PsychoFlickr's) always land in the same split.
    """
    explicit: dict[str, list[Record]] = {s: [] for s in SPLITS}
    unassigned: list[Record] = []
    for record in records:
        if record.split is None:
            unassigned.append(record)
        elif record.split in explicit:
            explicit[record.split].append(record)
        else:
            raise DataError(f"{record.path}: unknown split {record.split!r} (expected train, val or test)")
    rng = random.Random(seed)
    if not explicit["test"] and not explicit["val"] and not explicit["train"]:
        carve = len(unassigned) > 2 and test_fraction > 0
        n_test = max(1, round(len(unassigned) * test_fraction)) if carve else 0
        explicit["test"], unassigned = _carve(unassigned, n_test, rng)
    explicit["train"] += unassigned
    if not explicit["val"] and val_fraction > 0 and len(explicit["train"]) > 2:
        train = explicit["train"]
        n_val = int(val_fraction) if val_fraction >= 1 else max(1, round(len(train) * val_fraction))
        if n_val >= len(train):
            raise DataError(f"data.val_fraction={val_fraction:g} asks for {n_val} validation images but the "
                            f"training split has only {len(train)}; lower data.val_fraction, e.g. "
                            "data.val_fraction=0.1 (train) or --val-fraction 0.1 (datasets inspect)")
        explicit["val"], explicit["train"] = _carve(train, n_val, rng)
    return explicit


@dataclasses.dataclass
class TaskData:
    """One task's parsed source and its train/val/test records under the split policy."""

    source: DatasetSource
    splits: dict[str, list[Record]]

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}

    def with_train_subset(self, size: int, seed: int) -> "TaskData":
        """The same data with a seeded random ``size`` of its training records (validation and test
        untouched): a learning curve varies the training set alone, so every point is tested alike."""
        train = self.splits["train"]
        if not 1 <= size <= len(train):
            raise DataError(f"{self.source.spec}: a training subset of {size} images asked for, but the "
                            f"training split has {len(train)}")
        keep = sorted(random.Random(seed).sample(range(len(train)), size))
        return TaskData(self.source, {**self.splits, "train": [train[i] for i in keep]})


def load_task_data(spec: str, task: str, options: Optional[Mapping[str, Any]] = None, *,
                   val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0) -> TaskData:
    """Parse ``spec`` for ``task`` and split it: what training, evaluation and inspection all start from."""
    source = load_source(spec, task, options)
    return TaskData(source, split_records(source.records, val_fraction=val_fraction,
                                          test_fraction=test_fraction, seed=seed))
