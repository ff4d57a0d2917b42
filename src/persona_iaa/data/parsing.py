"""The one parser skeleton: what every format does with its label rows once its layout is read.

A format module reads its own files into rows of (image path, raw label values, split, meta) and skips
what only its layout can judge (duplicate ids, users without traits...). :class:`LabelRows` does the
rest the same way for every format, so no parser writes it again:

* a row whose label is NaN or infinite is skipped and counted, and a label column with no finite value
  at all is an error (a NaN target would only surface hours later as a diverging loss);
* a row whose image is not on disk is skipped and counted (one directory listing per folder);
* raw scores are mapped onto [0, 1] by a :class:`ScoreScale`, raw traits onto [-1, 1] by a trait scale
  (:mod:`.traits`), after a range check over every row, so an error shows the values that broke it.

Errors that advise setting a format option give the setting as it is typed (:func:`.options.option_hint`).

A new format is one module: a parser decorated with ``@register_format(NAME, tasks=...)`` whose keyword
arguments are its options, that reads the layout into a :class:`LabelRows` and returns its
:meth:`LabelRows.source`; list the module in ``registry.BUILTIN_FORMAT_MODULES`` and give it a
miniature in ``tests/data/miniatures.py``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from ..constants import TRAITS
from ..errors import DataError
from .options import RangeValue, option_hint, parse_range, suggested_range
from .records import AESTHETIC, PERSONALITY, DatasetSource, FileIndex, Record, Skip
from .traits import normalise_traits, resolve_trait_scale

NON_FINITE = "label is NaN or infinite"
MISSING_IMAGE = "image file missing"
#: Common raw scales, suggested (first that holds every value) when scores fall off the declared one.
COMMON_SCORE_SCALES: tuple[tuple[float, float], ...] = ((0, 1), (1, 5), (1, 10), (0, 10), (1, 7), (0, 100))

@dataclasses.dataclass(frozen=True)
class ScoreScale:
    """A raw aesthetic scale LOW..HIGH, mapped linearly onto the model's [0, 1].

    ``option`` names the format option that declares the scale (``score_range``); a format whose scale is
    fixed by its release (AADB, PARA, AVA) has none, and its error then gives no hint to set one.
    """

    low: float = 0.0
    high: float = 1.0
    option: Optional[str] = None

    @classmethod
    def declared(cls, value: RangeValue, option: str = "score_range") -> "ScoreScale":
        """The scale an option declares; undeclared means the scores are already in [0, 1]."""
        low, high = parse_range(value, option) or (0.0, 1.0)
        return cls(low, high, option)

    def normalise(self, raw: np.ndarray, images: Sequence[str], origin: str) -> np.ndarray:
        """Raw scores -> [0, 1]; one outside LOW..HIGH is an error naming it and the span seen."""
        outside = np.flatnonzero((raw < self.low) | (raw > self.high))
        if outside.size:
            first = int(outside[0])
            low, high = float(raw.min()), float(raw.max())
            message = (f"{origin}: scores span {low:g}..{high:g}, "
                       f"outside the scale {self.low:g}..{self.high:g} "
                       f"(first: {images[first]} with {float(raw[first]):g})")
            if self.option:
                suggestion = suggested_range(low, high, COMMON_SCORE_SCALES)
                message += f"; declare the raw scale: {option_hint(AESTHETIC, self.option, suggestion)}"
            raise DataError(message)
        return (raw - self.low) / (self.high - self.low)


def check_finite_columns(values: np.ndarray, names: Sequence[str], origin: str) -> None:
    """A label column with no finite value (a blank or NaN column) is an error, not a skip per row."""
    if len(values):
        empty = [name for name, column in zip(names, np.asarray(values, dtype=np.float64).T)
                 if not np.isfinite(column).any()]
        if empty:
            raise DataError(f"{origin}: {', '.join(empty)} is NaN or infinite in every row")


class LabelRows:
    """Collects a format's label rows and turns them into a :class:`DatasetSource` (see the module docstring).

    Rows are only stored by :meth:`add`, in flat lists; every check runs once over all of them in
    :meth:`source`. AVA has 255k rows of which a copy may hold few images: a row must cost no more
    than a few list appends, and record metadata is built only for the rows that become records.
    """

    def __init__(self, spec: str, task: str, *, check_files: bool = True,
                 columns: Optional[Sequence[str]] = None):
        self.spec, self.task = spec, task
        self.columns = tuple(columns or (("score",) if task == AESTHETIC else TRAITS))
        self.skipped: list[Skip] = []
        self._files = FileIndex() if check_files else None
        self._images: list[str] = []
        self._values: list[Union[float, Sequence[float]]] = []
        self._splits: list[Optional[str]] = []
        self._metas: list[Any] = []
        self._exists: list[Optional[bool]] = []

    def skip(self, path: str, reason: str) -> None:
        """Report an entry the format's own layout rules out (a duplicate id, a user without traits...)."""
        self.skipped.append(Skip(path, reason))

    def add(self, image: str, values: Union[float, Sequence[float]], split: Optional[str] = None,
            meta: Any = None, *, exists: Optional[bool] = None) -> None:
        """One label row: raw label ``values`` (one number for a score), the distribution's split and the
        record's ``meta``.

        ``meta`` is the record's metadata, or anything :meth:`source`'s ``make_meta`` turns into it.
        ``exists``: whether the image is on disk, when the format already knows (AADB looks in several
        folders); None checks ``image`` itself.
        """
        self._images.append(image)
        self._values.append(values)
        self._splits.append(split)
        self._metas.append(meta)
        self._exists.append(exists)

    def _usable(self, finite: np.ndarray) -> list[int]:
        """Indices of rows with finite labels and their image on disk; the others are skipped, in order."""
        usable = []
        for index, (image, ok, exists) in enumerate(zip(self._images, finite.tolist(), self._exists)):
            if not ok:
                self.skip(image, NON_FINITE)
            elif exists if exists is not None else self._files is None or self._files.exists(image):
                usable.append(index)
            else:
                self.skip(image, MISSING_IMAGE)
        return usable

    def _targets(self, raw: np.ndarray, finite: np.ndarray, scores: ScoreScale, traits: Any,
                 info: dict[str, Any]) -> np.ndarray:
        """Normalised labels of the finite rows (NaN elsewhere); range and scale are judged over all of
        them."""
        targets = np.full_like(raw, np.nan)
        valid = raw[finite]
        if not len(valid):
            return targets
        if self.task == PERSONALITY:
            info["trait_scale"] = resolve_trait_scale(valid, traits, self.spec)
            targets[finite] = normalise_traits(valid, info["trait_scale"], self.spec)
        else:
            images = [image for image, ok in zip(self._images, finite.tolist()) if ok]
            targets[finite, 0] = scores.normalise(valid[:, 0], images, self.spec)
        return targets

    def source(self, *, scores: ScoreScale = ScoreScale(), traits: Any = "auto",
               info: Optional[dict[str, Any]] = None,
               make_meta: Optional[Callable[[Any], Optional[dict[str, Any]]]] = None) -> DatasetSource:
        """The records, with targets normalised by ``scores`` (aesthetic) or ``traits`` (personality).

        The range check and the trait-scale detection see every row with a finite label, images on disk
        or not, so a bad value is reported whichever images a copy of the dataset happens to hold.
        """
        info = dict(info or {})
        raw = np.asarray(self._values, dtype=np.float64).reshape(len(self._values), len(self.columns))
        finite = np.all(np.isfinite(raw), axis=1)
        if len(raw) and not finite.any():
            check_finite_columns(raw, self.columns, self.spec)
        targets = self._targets(raw, finite, scores, traits, info)
        usable = self._usable(finite)
        make_meta = make_meta or (lambda meta: meta)
        records = [Record(self._images[i], tuple(target), self._splits[i], make_meta(self._metas[i]))
                   for i, target in zip(usable, targets[usable].tolist())]
        return DatasetSource(spec=self.spec, task=self.task, records=records, skipped=self.skipped, info=info)
