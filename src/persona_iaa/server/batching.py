"""Dynamic batching: images from concurrent requests share model calls.

Why: one request with one photo would otherwise run the model on a batch of one, and concurrent
requests would queue behind each other. Each model thread takes whatever prepared images are waiting
(up to ``batch_size``) the moment it is free: an idle server answers a lone photo at once, a busy one
scores the photos of several requests in one call, the way inference servers batch. No timer, so no
latency is added to wait for company.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from typing import Callable, Optional

import numpy as np

from ..inference.engine import Outputs

log = logging.getLogger(__name__)
#: One image's outputs: score, aesthetic, traits [5].
ImageOutputs = tuple[float, float, tuple[float, ...]]
_STOP = object()


class DynamicBatcher:
    """Collects prepared images into model calls of up to ``batch_size`` on ``threads`` model threads.

    ``infer`` runs one batch (a list of uint8 crops [3, H, W]) and returns the model's outputs;
    ``on_batch`` is told each batch's size (for metrics). :meth:`stop` lets queued images finish.
    """

    def __init__(
        self,
        infer: Callable[[list[np.ndarray]], Outputs],
        batch_size: int,
        threads: int = 1,
        on_batch: Optional[Callable[[int], None]] = None,
    ):
        self.infer = infer
        self.batch_size = batch_size
        self.on_batch = on_batch or (lambda size: None)
        self._queue: queue.Queue = queue.Queue()
        self._threads = [
            threading.Thread(target=self._run, name=f"persona-iaa-batcher-{i}", daemon=True)
            for i in range(max(threads, 1))
        ]
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            for thread in self._threads:
                thread.start()

    def stop(self) -> None:
        """Finish the images already queued, then end the model threads."""
        if self._started:
            for _ in self._threads:
                self._queue.put(_STOP)
            for thread in self._threads:
                thread.join()
            self._started = False

    @property
    def threads(self) -> int:
        return len(self._threads)

    @property
    def depth(self) -> int:
        """Images waiting for a model call."""
        return self._queue.qsize()

    def submit(self, image: np.ndarray) -> Future:
        """Queue one prepared image; the future's result is its :data:`ImageOutputs`."""
        future: Future = Future()
        self._queue.put((image, future))
        return future

    def _take(self) -> Optional[list[tuple[np.ndarray, Future]]]:
        """Block for one image, then take the others already waiting; None when told to stop."""
        first = self._queue.get()
        if first is _STOP:
            return None
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # another thread's stop, or ours after this batch
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            live = [(image, future) for image, future in batch if future.set_running_or_notify_cancel()]
            if live:
                self._score(live)

    def _score(self, batch: list[tuple[np.ndarray, Future]]) -> None:
        self.on_batch(len(batch))
        try:
            scores, aesthetics, traits = self.infer([image for image, _ in batch])
        except Exception as exc:  # a failing model call fails its images, never the thread
            log.exception("model call failed on a batch of %d", len(batch))
            for _, future in batch:
                future.set_exception(exc)
            return
        for k, (_, future) in enumerate(batch):
            future.set_result((float(scores[k]), float(aesthetics[k]), tuple(float(v) for v in traits[k])))
