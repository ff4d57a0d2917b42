"""Process-level settings shared by training and inference: device choice, seeding and stop signals."""
from __future__ import annotations

import logging
import random
import signal
import threading
from types import FrameType
from typing import Any, Optional

import numpy as np
import torch

from .errors import ConfigError

log = logging.getLogger(__name__)
_DEVICE_HINT = "use auto, cpu, cuda, cuda:N or mps"


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; anything else must name a device this machine has.

    Checked here, once, so that ``--device gpu`` or ``--device cuda`` on a machine without one is a
    one-line error before any model is built, not a traceback from deep inside torch.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"unknown device {name!r}; {_DEVICE_HINT}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {name!r}: no CUDA GPU is available here; use cpu or auto")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {name!r}: this machine has {count} CUDA GPU(s), "
                              f"cuda:0 to cuda:{count - 1}")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r}: Apple's MPS is not available here; use cpu or auto")
    return device


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
        log.warning("%s received: stopping at the next safe point to save a checkpoint "
                    "(send it again to stop at once)", signal.Signals(signum).name)

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
