"""Batch scheduling: decoded crops into batches, up to ``threads`` batches scored at once, results in order.

Results are kept as segments in input order, each with the batch it waits for (error rows ride along
with the batch scored after them, or alone when no crop is waiting). A segment is handed back as soon
as its batch is done and every earlier one has been; when more than ``threads`` batches are pending,
the oldest is waited for, so at most ``threads`` batches are scored at once and memory stays flat.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Executor, Future
from typing import Callable, Iterable, Iterator, Optional

import numpy as np

from .decoding import Prepared
from .results import ScoreResult, image_name
from .runners import Outputs

Segment = tuple[list[ScoreResult], Optional[Future]]


def images_held(threads: int, batch_size: int) -> int:
    """Most decoded images the scheduler holds: ``threads`` batches being scored and one filling."""
    return (threads + 1) * batch_size


def score_in_batches(prepared: Iterable[Prepared], batch_size: int, threads: int,
                     infer: Callable[[list[np.ndarray]], Outputs], model_threads: Executor
                     ) -> Iterator[ScoreResult]:
    """One result per prepared input, in order; ``infer`` runs on ``model_threads``."""
    segments: deque[Segment] = deque()
    waiting: list[ScoreResult] = []
    arrays: list[np.ndarray] = []
    try:
        for index, (item, array, error) in enumerate(prepared):
            waiting.append(ScoreResult(image_name(item, index), error=error))
            if array is not None:
                arrays.append(array)
            if len(arrays) == batch_size or not arrays:
                segments.append((waiting, model_threads.submit(infer, arrays) if arrays else None))
                waiting, arrays = [], []
            while segments and (segments[0][1] is None or segments[0][1].done()
                                or sum(f is not None for _, f in segments) > threads):
                yield from finished(*segments.popleft())
        if waiting:
            segments.append((waiting, model_threads.submit(infer, arrays)))
        while segments:
            yield from finished(*segments.popleft())
    finally:  # stopped early: drop the batches nobody will read
        for _, future in segments:
            if future is not None:
                future.cancel()


def finished(results: list[ScoreResult], batch: Optional[Future]) -> list[ScoreResult]:
    """Fill the scored results of one segment from its batch outputs (in order)."""
    if batch is not None:
        scores, aesthetics, traits = batch.result()
        scored = (r for r in results if r.ok)
        for k, result in enumerate(scored):
            result.score, result.aesthetic = float(scores[k]), float(aesthetics[k])
            result.personality = tuple(float(v) for v in traits[k])
    return results
