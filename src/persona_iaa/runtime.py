"""Process-level settings shared by training and inference: device choice, seeding and stop signals."""
from __future__ import annotations

import random
import signal
import sys
import threading
from types import FrameType
from typing import Any, Optional

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(*parts: int) -> int:
    """A seed that depends only on ``parts`` (base seed, stream, epoch, sample index...).

    Randomness derived this way does not depend on which process, worker or resumed run draws it, so
    a sample's augmentation is the same on one GPU, on eight, and after a restart.
    """
    return int(np.random.SeedSequence([int(p) % 2**63 for p in parts]).generate_state(1, np.uint64)[0] >> 1)


class StopSignals:
    """While active, SIGTERM and SIGINT ask the training loop to stop at its next safe point.

    The first signal only sets :attr:`received` (the loop saves a checkpoint and exits); the original
    handlers come back at once, so a second signal acts as it normally would.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: Optional[int] = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.received = signum
        self._restore()
        print(f"\n{signal.Signals(signum).name} received: stopping at the next safe point to save a checkpoint "
              "(send it again to stop at once)", file=sys.stderr, flush=True)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._restore()
