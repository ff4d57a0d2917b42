"""A torchrun entry point that runs ``persona-iaa`` but kills rank 1 after it streamed two rows.

Why a script and not a flag: the crash is a test's business; the library keeps no fault-injection hook.
"""
from __future__ import annotations

import os
import sys

from persona_iaa.cli import main
from persona_iaa.inference.predictor import Predictor

ROWS_BEFORE_CRASH = 2

if os.environ.get("RANK") == "1":
    _score = Predictor.score

    def _crashing(self, images, batch_size=None):  # type: ignore[no-untyped-def]
        for number, result in enumerate(_score(self, images, batch_size), 1):
            yield result
            if number == ROWS_BEFORE_CRASH:
                os._exit(9)  # like SIGKILL: no cleanup, the part file keeps what was flushed

    Predictor.score = _crashing  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
