"""What scoring gives back: one :class:`ScoreResult` per input and the output-file columns.

Kept apart from the engine so that writers, the server and the CLI read results without importing
the machinery that produces them.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional, Union

from PIL import Image

from ..constants import TRAITS

ImageLike = Union[str, os.PathLike, Image.Image, bytes]


@dataclasses.dataclass
class ScoreResult:
    """One image's result; on failure the numbers are None and ``error`` says why in one line."""

    path: str
    score: Optional[float] = None
    aesthetic: Optional[float] = None
    personality: Optional[tuple[float, ...]] = None
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def traits(self) -> dict[str, float]:
        return dict(zip(TRAITS, self.personality)) if self.personality is not None else {}

    def as_row(self) -> dict[str, Any]:
        """Flat row: path, score, aesthetic, O, C, E, A, N, error (the output-file columns)."""
        row: dict[str, Any] = {"path": self.path, "score": self.score, "aesthetic": self.aesthetic}
        personality = self.personality
        row.update({t: (personality[i] if personality is not None else None) for i, t in enumerate(TRAITS)})
        row["error"] = self.error
        return row


#: The output-file columns, in order.
RESULT_COLUMNS: tuple[str, ...] = tuple(ScoreResult("").as_row())


def image_name(item: ImageLike, index: int) -> str:
    """The ``path`` column: the path, a PIL image's file name, or the position in the input."""
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)  # type: ignore[return-value]
    return getattr(item, "filename", None) or f"<image {index}>"
