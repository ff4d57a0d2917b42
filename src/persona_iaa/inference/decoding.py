"""Decoding for scoring: images in input order, as uint8 crops or one-line errors, from a process pool.

Worker processes decode, resize and crop (the slow, single-threaded part for photo-sized files). Three
things can go wrong with a file besides being a bad image, and none of them may stop a run:

* it crashes its decoder process (a decoder bug, the OOM killer): the images in flight are decoded
  again one at a time, each in a fresh process, so only the file that kills its process fails;
* a read blocks (a stalled network mount, a device): each image has ``timeout`` seconds, enforced by an
  alarm inside the worker, after which it becomes an error row;
* a read blocks where no signal reaches it (an uninterruptible kernel wait): the parent waits a little
  longer than the alarm, then kills the pool and goes on without that image.
"""
from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing
import signal
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable, Iterator, Optional

import numpy as np
import torch

from ..data.images import read_image
from ..data.transforms import Transform
from ..errors import ImageError, first_line
from .results import ImageLike

#: One decoded input: the input, its uint8 crop or None, and None or the one-line reason it failed.
Prepared = tuple[ImageLike, Optional[np.ndarray], Optional[str]]
Outcome = tuple[Optional[np.ndarray], Optional[str]]

#: Seconds a worker may spend on one image by default: far above any real photo, short of "forever".
DEFAULT_TIMEOUT = 60.0
DIED = "the decoder process died on this file (crash or out of memory)"


@dataclasses.dataclass(frozen=True)
class DecodeSetup:
    """What every decoding process needs: the geometry, the JPEG draft size and the per-image timeout."""

    transform: Transform
    draft_size: Optional[int] = None
    timeout: Optional[float] = DEFAULT_TIMEOUT
    #: "cuda[:N]": plain JPEGs decode with nvJPEG in this process (CUDA does not survive a fork)
    decode_device: Optional[str] = None

    def timed_out(self) -> str:
        return (f"timed out after {self.timeout:g} s reading or decoding this file "
                "(a stalled disk or network mount?)")

    def parent_wait(self) -> Optional[float]:
        """How long the parent waits for the oldest image: the worker's own alarm fires well before."""
        return None if self.timeout is None else 2 * self.timeout + 5


def prepare_image(item: ImageLike, transform: Transform, draft_size: Optional[int],
                  device: Optional[str] = None) -> Outcome:
    """Decode and transform one image: ``(array, None)`` or ``(None, one-line reason)``, never raises."""
    try:
        image = (read_image(item, draft_size=draft_size, device=device) if device  # nvJPEG
                 else read_image(item, draft_size=draft_size))  # the CPU call stays the plain one
        return transform(image).cpu().numpy(), None
    except ImageError as exc:
        return None, str(exc)
    except Exception as exc:  # a transform failing on one odd image must not stop a 100k-image run
        return None, f"cannot prepare this image ({type(exc).__name__}: {first_line(exc)})"


class _Expired(BaseException):
    """Raised by the worker's alarm; a BaseException so that no ``except Exception`` in a decoder eats it."""


def _expire(signum: int, frame: object) -> None:
    raise _Expired


def prepare_with_timeout(item: ImageLike, setup: DecodeSetup) -> Outcome:
    """:func:`prepare_image` under a ``SIGALRM`` deadline (in the main thread of a worker process only)."""
    if not setup.timeout or not hasattr(signal, "setitimer"):
        return prepare_image(item, setup.transform, setup.draft_size)
    previous = signal.signal(signal.SIGALRM, _expire)
    try:
        signal.setitimer(signal.ITIMER_REAL, setup.timeout)
        try:
            return prepare_image(item, setup.transform, setup.draft_size)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Expired:
        return None, setup.timed_out()
    finally:
        signal.signal(signal.SIGALRM, previous)


_worker_setup: Optional[DecodeSetup] = None


def _init_worker(setup: DecodeSetup) -> None:
    """One thread per decoding process (more would fight the model for the cores); Ctrl-C and the
    parent's death are handled by the parent, so workers never linger as orphans."""
    global _worker_setup
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    _worker_setup = setup


def _prepare_in_worker(item: ImageLike) -> Outcome:
    assert _worker_setup is not None
    return prepare_with_timeout(item, _worker_setup)


def _process_context() -> multiprocessing.context.BaseContext:
    """Fork where it is safe and fast (Linux): workers start in milliseconds without re-importing torch."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def decode_in_order(images: Iterable[ImageLike], setup: DecodeSetup, workers: int, in_flight: int
                    ) -> Iterator[Prepared]:
    """Every input once, in input order; ``workers=0`` decodes in this process (no timeout there:
    an alarm would change the caller's signal handlers)."""
    if workers == 0 or setup.decode_device:
        for item in images:
            yield (item, *prepare_image(item, setup.transform, setup.draft_size, setup.decode_device))
        return
    yield from DecodingPool(setup, workers).decode(images, in_flight)


class DecodingPool:
    """Ordered parallel decoding with crash retry and timeouts; see the module docstring."""

    def __init__(self, setup: DecodeSetup, workers: int):
        self.setup = setup
        self.workers = workers

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=_process_context(),
                                   initializer=_init_worker, initargs=(self.setup,))

    def decode(self, images: Iterable[ImageLike], in_flight: int) -> Iterator[Prepared]:
        """Yield decoded inputs in order with at most ``in_flight`` submitted and not yet yielded."""
        executor = self._start()
        window: deque[tuple[ImageLike, Future]] = deque()
        items = iter(images)
        try:
            while True:
                for item in items:
                    window.append((item, executor.submit(_prepare_in_worker, item)))
                    if len(window) >= in_flight:
                        break
                if not window:
                    return
                item, future = window[0]
                try:
                    prepared = future.result(timeout=self.setup.parent_wait())
                except BrokenProcessPool:
                    executor.shutdown(wait=True, cancel_futures=True)
                    while window:
                        yield self._decode_alone(*window.popleft())
                    executor = self._start()
                    continue
                except FutureTimeout:
                    window.popleft()
                    yield (item, None, self.setup.timed_out())
                    executor = self._replace(executor, window)
                    continue
                window.popleft()
                yield (item, *prepared)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def _replace(self, stuck: ProcessPoolExecutor, window: deque[tuple[ImageLike, Future]]
                 ) -> ProcessPoolExecutor:
        """Kill a pool with a worker stuck where no alarm reaches it; resubmit what it had not finished."""
        _kill_workers(stuck)
        stuck.shutdown(wait=False, cancel_futures=True)
        executor = self._start()
        for k, (item, future) in enumerate(window):
            if not (future.done() and not future.cancelled() and future.exception() is None):
                window[k] = (item, executor.submit(_prepare_in_worker, item))
        return executor

    def _decode_alone(self, item: ImageLike, future: Future) -> Prepared:
        """The result of ``future`` if it finished before the pool broke, else a retry in a fresh process."""
        if future.done() and not future.cancelled() and future.exception() is None:
            return (item, *future.result())
        executor, stuck = self._start(), False
        try:
            return (item, *executor.submit(_prepare_in_worker, item).result(timeout=self.setup.parent_wait()))
        except BrokenProcessPool:
            return item, None, DIED
        except FutureTimeout:
            stuck = True
            _kill_workers(executor)
            return item, None, self.setup.timed_out()
        finally:
            executor.shutdown(wait=not stuck, cancel_futures=True)


def _kill_workers(executor: ProcessPoolExecutor) -> None:
    """SIGKILL every worker of ``executor`` (public from Python 3.14, the private process table before)."""
    kill = getattr(executor, "kill_workers", None)
    if kill is not None:
        kill()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.kill()
